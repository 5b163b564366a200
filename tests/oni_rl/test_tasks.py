"""The paper's task envs on the real NLE: StaircaseLvl3/4 pay on reaching the dungeon level, not before."""

from __future__ import annotations

import pytest
from nle import nethack

from oni_rl.tasks import EXTENDED_ACTIONS, TASKS, make_task

# wizard mode's level teleport (^V) takes the hero to any level: the test needs no luck to descend
WIZARD_ACTIONS = tuple(nethack.ACTIONS) + (nethack.WizardCommand.WIZLEVELPORT,)


def teleport(env, level: int):  # type: ignore[no-untyped-def]
    """^V, the level, Enter; then Escape twice, so no --More-- of the arrival eats the next command."""
    keys = [nethack.WizardCommand.WIZLEVELPORT, *map(ord, str(level)), nethack.MiscAction.MORE,
            nethack.Command.ESC, nethack.Command.ESC]
    total = 0.0
    for key in keys:
        obs, reward, terminated, _truncated, info = env.step(WIZARD_ACTIONS.index(key))
        total += reward
        if terminated:
            break
    return obs, total, terminated, info


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("task", "target"), [("NetHackStaircaseLvl3-v0", 3), ("NetHackStaircaseLvl4-v0", 4)])
def test_staircase_level_task_pays_on_reaching_the_level(task: str, target: int, seed: int) -> None:
    env = make_task(task, extended_actions=False, actions=WIZARD_ACTIONS, wizard=True, allow_all_modes=True)
    env.unwrapped.seed(core=seed, disp=seed + 1, reseed=False)  # NLE's reset(seed=) does not fix the game
    env.reset()
    obs, reward, terminated, _ = teleport(env, target - 1)
    assert obs["blstats"][nethack.NLE_BL_DEPTH] == target - 1
    assert not terminated
    assert reward < 0.5  # at most the frozen-step penalty
    obs, reward, terminated, info = teleport(env, target)
    assert obs["blstats"][nethack.NLE_BL_DEPTH] == target
    assert terminated
    assert reward == pytest.approx(1.0, abs=0.05)
    assert info["end_status"] == 2  # TASK_SUCCESSFUL
    env.close()


def test_every_task_uses_the_extended_action_set() -> None:
    for task in TASKS:
        env = make_task(task)
        assert env.action_space.n == len(EXTENDED_ACTIONS)
        assert env.unwrapped.actions == EXTENDED_ACTIONS
        assert set(env.observation_space.spaces) == {"glyphs", "blstats", "message"}
        env.close()


def test_unknown_task_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown task 'NetHackStaircaseLvl9-v0'"):
        make_task("NetHackStaircaseLvl9-v0")


def test_extrinsic_coefficient_follows_the_reference_per_task() -> None:
    from oni_rl.tasks import default_extrinsic_coef
    from oni_rl.train import TrainConfig

    assert default_extrinsic_coef("NetHackScore-v0") == 0.1
    assert default_extrinsic_coef("NetHackStaircaseLvl4-v0") == 10.0
    assert TrainConfig(task="NetHackOracle-v0").extrinsic_coef == 10.0
    assert TrainConfig(task="NetHackScore-v0", extrinsic_coef=0.0).extrinsic_coef == 0.0  # reward-free


def test_the_env_factory_hands_the_reward_settings_to_the_wrapper() -> None:
    from oni_rl.envs import EnvFactory
    from oni_wrappers import OniRewardWrapper

    env = EnvFactory("NetHackScore-v0", server=None, intrinsic_coef=0.3, count_exponent=2.0,
                     cross_episode_exponent=0.5).gym_env()
    wrapper = env.env
    assert isinstance(wrapper, OniRewardWrapper)
    assert (wrapper.intrinsic_coef, wrapper.count_exponent, wrapper.cross_episode_exponent) == (0.3, 2.0, 0.5)
    env.close()


def test_episode_stats_count_what_the_agent_did():
    """Real NLE, random actions: depth and gold follow blstats, menu steps are those where the game
    waits for an answer (NLE's ``misc``), kills are the hero's own."""
    from nle import nethack

    from oni_rl.envs import EnvFactory
    from oni_rl.episode_stats import _KILL

    assert _KILL.search("You kill the newt!") and _KILL.search("You destroy the kobold zombie!  Welcome!")
    assert not _KILL.search("The kitten kills the newt!") and not _KILL.search("You hear someone killed.")
    env = EnvFactory("NetHackScore-v0", server=None, max_episode_steps=400).gym_env()
    obs, info = env.reset(seed=3)
    env.action_space.seed(3)
    menus = 0
    assert "misc" not in obs and "misc" not in env.observation_space.spaces  # the stats' own, not the agent's
    nle_env = env.unwrapped
    for step in range(400):
        obs, _, terminated, truncated, info = env.step(env.action_space.sample())
        menus += bool(nle_env.last_observation[nle_env._observation_keys.index("misc")].any())
        assert info["depth"] >= max(1, obs["blstats"][nethack.NLE_BL_DEPTH])  # a dead hero's blstats are blank
        assert info["gold"] >= obs["blstats"][nethack.NLE_BL_GOLD]
        if terminated or truncated:
            break
    assert info["menu_steps"] == menus
    # a prompt for sure: "Are you sure you want to pray? [yn]" waits for an answer
    from oni_rl.tasks import EXTENDED_ACTIONS

    obs, info = env.reset(seed=4)
    _, _, _, _, info = env.step(EXTENDED_ACTIONS.index(nethack.Command.PRAY))
    assert info["menu_steps"] == 1
    assert 0 <= info["kills"] <= step + 1
    env.close()
