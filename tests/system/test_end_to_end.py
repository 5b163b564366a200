"""The whole line with the real parts: NLE → wrapper → server → embedded default LLM → rewards."""

import re
import sqlite3
import time

import gymnasium as gym
import httpx
import nle  # noqa: F401
import pytest

from oni_wrappers import OniRewardWrapper
from reward_server import ServerConfig
from reward_server.judging.embedded_llm import DEFAULT_EMBEDDED_MODEL
from reward_server.runner import BackgroundServer

pytestmark = pytest.mark.llm


def test_nethack_with_the_embedded_llm(tmp_path):
    config = ServerConfig(store=tmp_path / "oni.sqlite", port=0)  # defaults: embedded LLM, logprob
    assert config.llm == DEFAULT_EMBEDDED_MODEL
    with BackgroundServer(config) as server:
        env = OniRewardWrapper(gym.make("NetHackScore-v0"), server=server.url, sync_interval=0.2,
                               intrinsic_coef=1.0, extrinsic_coef=0.1)
        env.reset(seed=0)
        env.action_space.seed(0)
        shaped_steps = 0
        deadline = time.monotonic() + 240
        steps = 0
        while time.monotonic() < deadline and (steps < 400 or shaped_steps == 0):
            _, reward, terminated, truncated, info = env.step(env.action_space.sample())
            steps += 1
            oni = info["oni"]
            if reward != pytest.approx(0.1 * oni["extrinsic"]):
                shaped_steps += 1
                assert oni["intrinsic"] > 0 and reward == pytest.approx(
                    0.1 * oni["extrinsic"] + oni["intrinsic"] / oni["episode_count"] ** 3
                )
            if terminated or truncated:
                env.reset()
            if steps % 100 == 0:
                time.sleep(0.5)  # let the CPU-bound LLM catch up on this 2-core machine
        stats = httpx.get(server.url + "/v1/stats").json()
        env.close()
        env.client.close()
    assert shaped_steps > 0, "the intrinsic reward never reached the env's reward"
    assert stats["labelled"] > 0 and stats["llm"] == DEFAULT_EMBEDDED_MODEL
    with sqlite3.connect(tmp_path / "oni.sqlite") as db:
        rows = db.execute("SELECT model, label_mode, score, raw FROM annotations").fetchall()
    assert rows and all(model == DEFAULT_EMBEDDED_MODEL and mode == "logprob" for model, mode, _, _ in rows)
    # the real model's first-token distribution is stored for audit: it mentions the label words
    assert all(score is not None and re.search(r"'\s?(Yes|No)'", raw) for _, _, score, raw in rows)
