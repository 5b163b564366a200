"""OniRewardWrapper on the real NLE (and, for step-by-step bookkeeping, a scripted env): reward mixing, info, errors, dead server, vector envs."""

import collections
import pickle
import time

import gymnasium as gym
import httpx
import nle  # noqa: F401 - registers the NetHack envs
import numpy as np
import pytest

from oni_wrappers import MissingMessageError, OniRewardWrapper, RewardClient
from oni_wrappers.messages import decode_message_bytes
from oni_wrappers.step_info import OniStepInfo, quiet_step_info
from tests.helpers import free_port


def run(env, steps, seed=0, with_episode_ends=False):
    env.reset(seed=seed)
    env.action_space.seed(seed)
    out = []
    for _ in range(steps):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        out.append((reward, info["oni"], terminated or truncated) if with_episode_ends else (reward, info["oni"]))
        if terminated or truncated:
            env.reset()
    return out


def test_env_without_message_is_a_clear_error():
    with pytest.raises(MissingMessageError, match="message"):
        OniRewardWrapper(gym.make("CartPole-v1"), server=None)


def test_extrinsic_only_without_server():
    env = OniRewardWrapper(gym.make("NetHackScore-v0"), server=None, extrinsic_coef=0.5)
    for reward, oni in run(env, 200):
        assert reward == pytest.approx(0.5 * oni["extrinsic"])
        assert oni["intrinsic"] == 0.0
    env.close()


def test_rewards_mix_labels_with_episode_counts(fake_server):
    # Label what a random agent sees, then check the reward of every step against the formula.
    scout = OniRewardWrapper(gym.make("NetHackScore-v0"), server=fake_server.url, sync_interval=0.05)
    seen = {oni["message"] for _, oni in run(scout, 300) if oni["message"]}
    scout.client.flush()
    deadline = time.monotonic() + 30
    while httpx.get(fake_server.url + "/v1/stats").json()["queued"] and time.monotonic() < deadline:
        time.sleep(0.1)
    # also make sure frequent messages are labelled helpful, so the intrinsic term shows up (NLE's
    # reset(seed=) does not fix the game: which of them the next 300 steps meet varies)
    frequent = {"It's solid stone.", "It's a wall.", *seen}
    fake_server.call(lambda service: service._publish(dict.fromkeys(frequent, 1.0)))
    scout.client.flush()
    assert scout.client.table.get("It's solid stone.") == 1.0

    env = OniRewardWrapper(
        gym.make("NetHackScore-v0"), server=scout.client, intrinsic_coef=0.4, extrinsic_coef=0.1,
        count_exponent=3.0,
    )
    paid, counts, version = 0, {}, 0
    steps = run(env, 300, seed=1, with_episode_ends=True)
    # the client synced before the first step: its version reaches info["oni"] (the quiet dict it republishes)
    assert steps[0][1]["table_version"] > 0
    for reward, oni, episode_ended in steps:
        msg = oni["message"]
        if msg:
            counts[msg] = counts.get(msg, 0) + 1
            assert oni["episode_count"] == counts[msg]
        expected = 0.1 * oni["extrinsic"]
        if oni["intrinsic"]:
            paid += 1
            expected += 0.4 * oni["intrinsic"] / oni["episode_count"] ** 3
        assert reward == pytest.approx(expected)
        assert oni["intrinsic_paid"] == pytest.approx(reward - 0.1 * oni["extrinsic"])
        assert (oni["intrinsic_paid"] != 0) == bool(oni["intrinsic"])
        # the table the step was paid from: it only moves forward (the client syncs while we play)
        assert version <= oni["table_version"] <= scout.client.version
        version = oni["table_version"]
        if episode_ended:
            counts = {}
    assert paid > 0
    assert not env._paid_episodes and not env._paid_now  # gamma = 0: nothing kept across episodes
    env.close()
    scout.close()
    scout.client.close()


def test_counts_reset_each_episode(fake_server):
    env = OniRewardWrapper(gym.make("NetHackScore-v0"), server=fake_server.url)
    env.reset(seed=0)
    env._episode_counts["x"] = 5
    env.reset(seed=0)
    assert env._episode_counts == {}
    env.close()


def test_cross_episode_decay_pays_a_message_less_in_each_episode_that_paid_it(fake_server):
    # Short episodes, every message the agent meets paid 1: with gamma > 0 a message's reward
    # keeps decaying from one episode that paid it to the next instead of paying in full again.
    env = OniRewardWrapper(gym.make("NetHackScore-v0", max_episode_steps=40), server=fake_server.url,
                           sync_interval=0.05, cross_episode_exponent=0.5)
    seen = {oni["message"] for _, oni in run(env, 200) if oni["message"]}
    env.client.flush()
    deadline = time.monotonic() + 30
    while httpx.get(fake_server.url + "/v1/stats").json()["queued"] and time.monotonic() < deadline:
        time.sleep(0.1)  # the LLM's labels land first: the table below is not overwritten
    fake_server.call(lambda service: service._publish(dict.fromkeys({"It's solid stone.", "It's a wall.", *seen}, 1.0)))
    env.client.flush()
    assert env.client.table.get("It's solid stone.") == 1.0
    env.reset(seed=1)
    paid_episodes, paid_now = collections.Counter(env._paid_episodes), set()  # what the first steps paid
    env.action_space.seed(1)
    decayed = 0
    for _ in range(300):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        oni = info["oni"]
        assert reward == pytest.approx(0.1 * oni["extrinsic"] + oni["intrinsic_paid"])
        if oni["intrinsic"]:
            earlier = paid_episodes[oni["message"]]
            assert oni["intrinsic_paid"] == pytest.approx(
                0.4 * oni["intrinsic"] / oni["episode_count"] ** 3 / (1 + earlier) ** 0.5)
            paid_now.add(oni["message"])
            decayed += earlier > 0
        if terminated or truncated:
            paid_episodes.update(paid_now)
            paid_now = set()
            env.reset()
    assert decayed > 0  # some payments were cut by earlier episodes that paid the message
    env.close()


class ScriptedMessages(gym.Env):
    """Shows the given messages, one a step, one list an episode: the wrapper's bookkeeping step by
    step, which random NetHack play cannot script."""

    observation_space = gym.spaces.Dict({"message": gym.spaces.Box(0, 255, (256,), np.uint8)})
    action_space = gym.spaces.Discrete(1)

    def __init__(self, episodes: list[list[str]]) -> None:
        self.episodes = iter(episodes)
        self.buffer = np.zeros(256, np.uint8)  # refilled in place, as NLE does

    def reset(self, *, seed=None, options=None):
        self.messages = list(next(self.episodes))
        return self._show(""), {}

    def step(self, action):
        text = self.messages.pop(0)
        return self._show(text), 0.0, not self.messages, False, {}

    def _show(self, text: str) -> dict[str, np.ndarray]:
        self.buffer[:] = 0
        self.buffer[:len(text)] = np.frombuffer(text.encode(), np.uint8)
        return {"message": self.buffer}


def test_the_decay_counts_only_earlier_episodes_that_paid_the_message():
    client = RewardClient(f"http://127.0.0.1:{free_port()}", sync_interval=60, timeout=0.2)  # no server: our table
    client.table = {"gold": 1.0, "junk": 0.0}
    env = OniRewardWrapper(ScriptedMessages([["new", "gold", "gold", "junk"], ["new", "gold"], ["gold", "new", "junk"]]),
                           server=client, intrinsic_coef=1.0, count_exponent=3.0, cross_episode_exponent=0.5)
    paid = []
    for episode in range(3):
        env.reset()
        if episode == 1:
            client.table["new"] = 1.0  # its label arrives: the episode before, unpaid, does not count
        done = False
        while not done:
            _, _, done, _, info = env.step(0)
            paid.append((info["oni"]["message"], info["oni"]["intrinsic_paid"]))
    assert paid == [
        ("new", 0.0), ("gold", 1.0), ("gold", pytest.approx(1 / 8)), ("junk", 0.0),  # paid twice: one episode
        ("new", 1.0), ("gold", pytest.approx(1 / 2**0.5)),
        ("gold", pytest.approx(1 / 3**0.5)), ("new", pytest.approx(1 / 2**0.5)), ("junk", 0.0),
    ]
    assert "junk" not in env._paid_episodes
    client.close()


def test_a_negative_cross_episode_exponent_is_a_clear_error():
    with pytest.raises(ValueError, match="cross_episode_exponent must be >= 0"):
        OniRewardWrapper(gym.make("NetHackScore-v0"), server=None, cross_episode_exponent=-0.5)


def test_dead_server_never_blocks_or_raises():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    client = RewardClient(url, sync_interval=0.05, timeout=0.2)
    env = OniRewardWrapper(gym.make("NetHackScore-v0"), server=client)
    started = time.monotonic()
    steps = run(env, 500)
    assert len(steps) == 500
    assert time.monotonic() - started < 30
    time.sleep(0.5)
    assert client.stats.errors > 0 and not client.stats.connected
    assert client.stats.messages_sent == 0
    assert len(client._new_messages) > 0  # kept, to be sent when the server is back
    client.close()
    env.close()


def test_buffer_is_bounded_and_counts_drops():
    client = RewardClient("http://127.0.0.1:9", max_pending=3)
    for i in range(10):
        client.observe(f"m{i}")
    assert list(client._new_messages) == ["m7", "m8", "m9"]
    assert client.stats.messages_dropped == 7
    client.observe("m0")  # a dropped message is sent again if seen again
    assert client._new_messages[-1] == "m0"


def test_wrapper_pickles_and_reconnects(fake_server):
    env = OniRewardWrapper(gym.make("NetHackScore-v0"), server=fake_server.url)
    state = env.__getstate__()
    assert state["client"] is None
    client = RewardClient.shared(fake_server.url)
    clone = pickle.loads(pickle.dumps(client))
    assert clone is client  # same process: the shared client
    env.close()
    client.close()


def test_each_step_gets_its_own_info_and_the_message_the_env_shows():
    # The step copies a quiet step's info["oni"] and reads the message through a memoryview of
    # NLE's message array, which NLE refills in place: each info must still be that step's own.
    env = OniRewardWrapper(gym.make("NetHackScore-v0"), server=None)
    env.reset(seed=0)
    env.action_space.seed(0)
    infos, messages = [], set()
    for _ in range(300):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        oni = info["oni"]
        assert set(oni) == set(OniStepInfo.__annotations__)
        assert oni["message"] == decode_message_bytes(obs["message"].tobytes())
        assert oni["episode_count"] == (env._episode_counts[oni["message"]] if oni["message"] else 0)
        messages.add(oni["message"])
        oni["message"] = "a caller's edit"  # stays in this step's dict
        infos.append(oni)
        if terminated or truncated:
            env.reset()
    assert len({id(oni) for oni in infos}) == len(infos)
    assert len(messages) > 3  # the array changed under the kept view, and the messages with it
    assert env._quiet_step_info == quiet_step_info()
    state = env.__getstate__()
    pickle.dumps({key: state[key] for key in ("_message_array", "_message_bytes", "_quiet_step_info")})
    env.close()
