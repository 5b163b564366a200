"""``NetHackBatch``, the env a collector worker steps: the real NLE, checked against TorchRL's own
``SerialEnv`` of single envs (same keys, specs and data) and through partial resets."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from torchrl.envs import SerialEnv
from torchrl.envs.utils import check_env_specs

from oni_rl.batched_env import NetHackBatch
from oni_rl.envs import STAT_KEYS, EnvFactory
from oni_rl.tasks import OBSERVATION_KEYS, make_task

FACTORY = EnvFactory(task="NetHackScore-v0", server=None, max_episode_steps=200)


def test_batched_env_has_the_specs_and_keys_of_a_serial_env_of_single_envs() -> None:
    """Its own episode entries (is_init, step_count, episode_reward) stand in for TorchRL's
    InitTracker, StepCounter and RewardSum on the single envs: same keys, shapes and dtypes."""
    batched = FACTORY.batched(3)
    serial = SerialEnv(3, FACTORY)
    try:
        check_env_specs(batched)
        assert batched.batch_size == serial.batch_size == torch.Size([3])
        assert batched.action_spec.space.n == serial.action_spec.space.n
        ours = batched.rollout(5, break_when_any_done=False)
        theirs = serial.rollout(5, break_when_any_done=False)
        assert set(ours.keys(True, True)) == set(theirs.keys(True, True))
        for key in theirs.keys(True, True):
            assert ours[key].shape == theirs[key].shape and ours[key].dtype == theirs[key].dtype, key
    finally:
        batched.close()
        serial.close()


def test_each_env_steps_the_game_a_single_env_would() -> None:
    """Same dungeon seeds, same actions: the batch's env i sees exactly what a lone env sees."""
    actions = [[(3 * t + i) % 8 for i in range(2)] for t in range(30)]

    def seeded(core: int) -> gym.Env:
        env = make_task("NetHackScore-v0", max_episode_steps=200)
        env.unwrapped.seed(core=core, disp=core + 1, reseed=False)
        return env

    cores = iter([11, 12])
    batch = NetHackBatch(lambda: seeded(next(cores)), 2, OBSERVATION_KEYS)
    lone = [seeded(11), seeded(12)]
    returns = [0.0, 0.0]
    try:
        td = batch.reset()
        first = [env.reset()[0] for env in lone]
        for i in range(2):
            assert torch.equal(td["glyphs"][i], torch.from_numpy(first[i]["glyphs"]))
        for t, step in enumerate(actions, start=1):
            td["action"] = torch.tensor(step)
            out = batch.step(td)["next"]
            for i, env in enumerate(lone):
                obs, reward, terminated, truncated, _ = env.step(step[i])
                returns[i] += float(reward)
                for key in OBSERVATION_KEYS:
                    assert torch.equal(out[key][i], torch.from_numpy(obs[key])), key
                assert out["reward"][i].item() == pytest.approx(reward)
                assert bool(out["terminated"][i]) == terminated and bool(out["truncated"][i]) == truncated
                assert out["step_count"][i].item() == t and not out["is_init"][i].item()
                assert out["episode_reward"][i].item() == pytest.approx(returns[i])
            assert not (out["terminated"] | out["truncated"]).any()  # 30 steps: both games go on
            td = out
    finally:
        batch.close()
        for env in lone:
            env.close()


def test_partial_reset_restarts_only_the_env_whose_episode_ended() -> None:
    """Env 0 is truncated every 3 steps, env 1 every 5: the final observation stays in "next",
    the ended env starts afresh (is_init, step count 1 at its next step), the other runs on."""
    limits = iter([3, 5])
    def make_env() -> gym.Env:
        return EnvFactory(task="NetHackScore-v0", server=None, max_episode_steps=next(limits)).gym_env()

    env = NetHackBatch(make_env, 2, OBSERVATION_KEYS, STAT_KEYS)
    try:
        data = env.rollout(15, break_when_any_done=False)  # [env, time]
        truncated = data["next", "truncated"].squeeze(-1)
        assert truncated[0].nonzero().squeeze(-1).tolist() == [2, 5, 8, 11, 14]
        assert truncated[1].nonzero().squeeze(-1).tolist() == [4, 9, 14]
        is_init = data["is_init"].squeeze(-1)
        assert is_init[0].nonzero().squeeze(-1).tolist() == [0, 3, 6, 9, 12]
        assert is_init[1].nonzero().squeeze(-1).tolist() == [0, 5, 10]
        assert data["next", "step_count"][0].squeeze(-1).tolist() == [1, 2, 3] * 5
        # "next" keeps the final observation of the ended game; the next step starts from a new
        # game (another dungeon), while the env that ran on continues from its own "next"
        assert not torch.equal(data["next", "glyphs"][0, 2], data["glyphs"][0, 3])
        assert torch.equal(data["next", "glyphs"][1, 2], data["glyphs"][1, 3])
    finally:
        env.close()


def test_batched_env_refuses_an_env_without_a_dict_observation() -> None:
    with pytest.raises(TypeError, match="dict observation"):
        NetHackBatch(lambda: gym.make("CartPole-v1"), 2, ("observation",))
