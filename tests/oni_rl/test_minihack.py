"""MiniHack's tasks, for real: their own action sets and episode limits, the ONI wrapper on their
messages, and the trainer end to end."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from oni_rl.envs import EnvFactory
from oni_rl.logbook import read_episodes
from oni_rl.tasks import action_count, default_max_episode_steps, make_task
from oni_rl.train import TrainConfig, train


def test_a_minihack_task_keeps_its_actions_and_limit_and_gives_the_policy_its_keys() -> None:
    env = make_task("MiniHack-KeyRoom-S5-v0")
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"glyphs", "blstats", "message"}  # what the encoder reads, as on NetHack
    assert obs["glyphs"].shape == (21, 79) and obs["blstats"].shape == (27,)
    assert env.action_space.n == action_count("MiniHack-KeyRoom-S5-v0") == 10  # moves, pick up, apply...
    env.close()
    assert default_max_episode_steps("MiniHack-River-v0") == 350  # River sets its own
    assert default_max_episode_steps("MiniHack-KeyRoom-S5-v0") == 200  # MiniHack's default
    shorter = make_task("MiniHack-River-v0", max_episode_steps=20)
    shorter.reset(seed=0)
    shorter.action_space.seed(0)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        _, _, terminated, truncated, _ = shorter.step(shorter.action_space.sample())
        steps += 1
    # the limit truncates (the learner bootstraps there); NLE itself reports it as an end
    assert (steps, terminated, truncated) == (20, False, True)
    shorter.close()


def test_a_wrong_minihack_name_lists_the_tasks_near_it() -> None:
    with pytest.raises(ValueError, match="MiniHack-KeyRoom-S5-v0"):
        TrainConfig(task="MiniHack-KeyRoom-S7-v0")
    with pytest.raises(ValueError, match="MiniHack-\\* task"):
        TrainConfig(task="KeyRoom-S5")


def test_train_config_takes_the_task_s_own_limit_and_the_sparse_coefficient() -> None:
    config = TrainConfig(task="MiniHack-River-v0", reward="none")
    assert config.max_episode_steps == 350 and config.extrinsic_coef == 10.0
    assert TrainConfig(task="NetHackScore-v0", reward="none").max_episode_steps == 5000


def test_the_wrapper_reports_minihack_messages_and_the_stats_mark_menus_unknown() -> None:
    """Random play on KeyRoom: the wrapper reads MiniHack's message like NLE's; NLE's ``misc`` is not
    a MiniHack observation, so the steps spent in prompts are NaN, not a false 0."""
    env = EnvFactory("MiniHack-KeyRoom-S5-v0", server=None).gym_env()
    messages: set[str] = set()
    for seed in range(3):
        env.reset(seed=seed)
        env.action_space.seed(seed)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(env.action_space.sample())
            messages.add(info["oni"]["message"])
            done = terminated or truncated
        assert math.isnan(info["menu_steps"])
    env.close()
    assert any("key" in message.lower() for message in messages), messages  # the task's own text


def test_ppo_trains_on_a_minihack_task_with_oni_rewards(tmp_path: Path) -> None:
    """The trainer end to end on MiniHack (novelty reward: the server path without the LLM's cost):
    the policy's head has the task's 10 actions, intrinsic reward reaches episodes, success is logged."""
    run_dir = tmp_path / "keyroom"
    config = TrainConfig(task="MiniHack-KeyRoom-S5-v0", reward="novelty", frames=1024, workers=2,
                         envs_per_worker=2, rollout=32, run_dir=run_dir, progress=False)
    result = train(config)
    assert result.frames == 1024 and result.intrinsic_steps > 0
    episodes = read_episodes(run_dir / "episodes.csv")
    assert episodes and any(e.intrinsic_return > 0 for e in episodes)
    assert {e.success for e in episodes} <= {0.0, 1.0}
    weights = torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]
    assert weights["logits.weight"].shape[0] == 10  # the actor's head: MiniHack's KeyRoom actions
