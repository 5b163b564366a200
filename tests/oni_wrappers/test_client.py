"""RewardClient reliability: a thread that never dies, stale tables, batches the server takes,
refusals, outages, and the README's vector-env recipe in fresh interpreters (fork and spawn)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import httpx
import numpy as np
import pytest

from oni_wrappers import OniRewardWrapper, RewardClient
from reward_server.runner import BackgroundServer
from tests.conftest import fake_config
from tests.helpers import free_port, start_server, stats, wait_for

ROOT = Path(__file__).resolve().parents[2]


class DistinctMessages(gym.Env):
    """A message on every step, each one new: what an agent meets over a very long run."""

    observation_space = gym.spaces.Dict({"message": gym.spaces.Box(0, 255, (256,), np.uint8)})
    action_space = gym.spaces.Discrete(1)

    def __init__(self, prefix: str = "You read a scroll labelled", episode_steps: int = 1000) -> None:
        self.prefix, self.episode_steps = prefix, episode_steps
        self.step_index = self.episode_step = 0

    def _obs(self) -> dict:
        raw = f"{self.prefix} {self.step_index}.".encode()
        message = np.zeros(256, np.uint8)
        message[: len(raw)] = np.frombuffer(raw, np.uint8)
        return {"message": message}

    def reset(self, *, seed=None, options=None):  # type: ignore[no-untyped-def]
        super().reset(seed=seed)
        self.episode_step = 0
        return self._obs(), {}

    def step(self, action):  # type: ignore[no-untyped-def]
        self.step_index += 1
        self.episode_step += 1
        return self._obs(), 0.0, False, self.episode_step >= self.episode_steps, {}


def play(env: gym.Env, steps: int) -> list[dict]:
    infos = []
    for _ in range(steps):
        *_, terminated, truncated, info = env.step(0)
        infos.append(info["oni"])
        if terminated or truncated:
            env.reset()
    return infos


def test_the_thread_outlives_an_unexpected_error(fake_server, caplog):
    client = RewardClient(fake_server.url, sync_interval=0.05)
    real_exchange = client._exchange
    calls = {"n": 0}

    def broken_once(http):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise AttributeError("partially initialized module 'httpcore' has no attribute 'ConnectionPool'")
        real_exchange(http)

    client._exchange = broken_once  # type: ignore[method-assign]
    env = OniRewardWrapper(DistinctMessages(), server=client)
    with caplog.at_level(logging.WARNING, logger="oni_wrappers.client"):
        env.reset(seed=0)
        play(env, 50)
        assert wait_for(lambda: client.stats.syncs > 0 and client.version > 0)
    assert client._thread is not None and client._thread.is_alive()
    assert client.stats.errors == 1 and "AttributeError" in (client.stats.last_error or "")
    assert sum("unexpected error" in r.getMessage() for r in caplog.records) == 1
    client.close()


def test_a_client_that_cannot_sync_says_so(caplog):
    client = RewardClient(f"http://127.0.0.1:{free_port()}", sync_interval=0.05, timeout=0.2,
                          max_backoff=0.1, stale_after=0.3)
    env = OniRewardWrapper(DistinctMessages(), server=client)
    with caplog.at_level(logging.WARNING, logger="oni_wrappers.client"):
        env.reset(seed=0)
        assert play(env, 1)[0]["stale"] is False
        time.sleep(0.6)
        assert play(env, 1)[0]["stale"] is True
        assert wait_for(lambda: any("not synced" in r.getMessage() for r in caplog.records), timeout=5)
    client.close()


def test_stale_turns_true_on_time_between_rounds_and_false_at_the_next_sync(fake_server):
    # Rounds 2 s apart, stale after 0.3 s: the flag is kept by the thread's wait, not by a round.
    client = RewardClient(fake_server.url, sync_interval=2.0, stale_after=0.3)
    env = OniRewardWrapper(DistinctMessages(), server=client)
    env.reset(seed=0)
    assert wait_for(lambda: client.stats.syncs >= 1, timeout=10)
    assert play(env, 1)[0]["stale"] is False
    synced_at = client.stats.syncs
    assert wait_for(lambda: play(env, 1)[0]["stale"] is True, timeout=1.5)
    assert client.stats.syncs == synced_at  # it turned stale while the thread waited
    assert client.flush(timeout=10)  # the next round syncs and clears it
    assert play(env, 1)[0]["stale"] is False
    client.close()


def test_fresh_clients_learn_the_limits_and_split_batches(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "s.sqlite", max_batch_messages=50)
    with BackgroundServer(config) as server:
        client = RewardClient(server.url, sync_interval=0.05, batch_size=4096)
        for i in range(1000):
            client.observe(f"You see here {i} arrows.")
        assert client.flush(timeout=30)
        assert client.limits.max_batch_messages == 50
        assert stats(server)["messages"] == 1000 and client.stats.messages_sent == 1000
        client.close()


def test_a_413_is_split_and_resent_and_a_refused_message_alone_is_dropped(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "s.sqlite", max_batch_messages=50, max_message_chars=100)
    with BackgroundServer(config) as server:
        client = RewardClient(server.url, sync_interval=0.05, batch_size=4096)
        client._limits_known = True  # as if it had not asked yet: its batches are too big
        for i in range(300):
            client.observe(f"You see here {i} arrows.")
        client.observe("x" * 150)  # longer than this server takes, but not than the client thinks
        assert client.flush(timeout=30)
        assert stats(server)["messages"] == 300
        assert client.stats.messages_sent == 300 and client.stats.messages_rejected == 1
        assert client.stats.messages_dropped == 0
        client.close()


def test_refused_credentials_keep_every_message(fake_llm, tmp_path, caplog):
    config = fake_config(fake_llm, tmp_path / "s.sqlite", token="right")
    with BackgroundServer(config) as server:
        client = RewardClient(server.url, sync_interval=0.05, max_backoff=0.1, token="wrong")
        with caplog.at_level(logging.ERROR, logger="oni_wrappers.client"):
            for i in range(20):
                client.observe(f"You kill the newt {i}!")
            client.ensure_running()
            assert wait_for(lambda: client.stats.errors >= 3)
        assert "401" in (client.stats.last_error or "")
        assert len(client._new_messages) == 20 and client.stats.messages_dropped == 0
        assert any("refused the credentials" in r.getMessage() for r in caplog.records)
        client.close()
        with_token = RewardClient(server.url, sync_interval=0.05, token="right")
        env = OniRewardWrapper(DistinctMessages(), server=server.url, token="right")
        assert env.client is not None and env.client.token == "right"
        for i in range(20):
            with_token.observe(f"You kill the newt {i}!")
        assert with_token.flush(timeout=30)
        assert stats_with_token(server.url, "right")["messages"] == 20
        with_token.close()


def stats_with_token(url: str, token: str) -> dict:
    import httpx

    return httpx.get(url + "/v1/stats", headers={"Authorization": f"Bearer {token}"}).json()


def test_a_30s_outage_loses_none_of_200k_distinct_messages(fake_llm, tmp_path):
    fake_llm.behaviour.delay = 0.5  # a slow LLM: the test is about messages reaching the store
    port, store = free_port(), tmp_path / "oni.sqlite"
    url = f"http://127.0.0.1:{port}"
    proc = start_server(fake_llm, store, port)
    client = RewardClient(url, sync_interval=0.05, max_backoff=1.0, timeout=2.0)
    env = OniRewardWrapper(DistinctMessages(), server=client)
    try:
        env.reset(seed=0)
        play(env, 1000)
        assert wait_for(lambda: client.stats.messages_sent >= 1000 and client.version > 0)
        proc.kill()
        proc.wait(10)
        outage_started = time.monotonic()
        play(env, 200_000)
        assert wait_for(lambda: not client.stats.connected)
        time.sleep(max(0.0, 30 - (time.monotonic() - outage_started)))
        assert client.stats.messages_dropped == 0
        proc = start_server(fake_llm, store, port)
        assert wait_for(lambda: client.stats.connected and not client._new_messages, timeout=120)
        import httpx

        assert httpx.get(url + "/v1/stats").json()["messages"] == 1000 + 200_000  # the messages of every step (a reset sends none)
        assert client.stats.messages_dropped == 0 and client.stats.messages_rejected == 0
    finally:
        client.close()
        proc.terminate()
        proc.wait(30)


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_the_vector_env_example_pays_every_worker(fake_server, fake_llm, context):
    fake_llm.behaviour.positive_words = ("",)  # every message helpful: any synced worker is paid
    cmd = [sys.executable, str(ROOT / "examples" / "vector_envs.py"), "--server", fake_server.url,
           "--context", context, "--workers", "4", "--steps", "1500"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(v > 0 for v in result["table_versions"]), result
    assert all(r > 0 for r in result["intrinsic"]), result
    assert result["ok"]


class FailsOncePost(httpx.HTTPTransport):
    """The real transport, but the ``fail_at``-th POST never reaches the server (a dropped link)."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at, self.posts = fail_at, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts += 1
            if self.posts == self.fail_at:
                raise httpx.ConnectError("injected: link dropped", request=request)
        return super().handle_request(request)


def test_a_split_batch_that_fails_half_way_is_resent_without_counting_twice(fake_llm, tmp_path):
    import sqlite3

    config = fake_config(fake_llm, tmp_path / "s.sqlite", max_batch_messages=10)
    with BackgroundServer(config) as server:
        client = RewardClient(server.url, sync_interval=0.05, max_backoff=0.1, batch_size=4096)
        client._limits_known = True  # its batches are too big: the server's 413 splits them
        transport = FailsOncePost(fail_at=3)  # 1: all 20 (413), 2: the first 10 (stored), 3: the rest (lost)
        client._open = lambda: httpx.Client(base_url=server.url, timeout=client.timeout,  # type: ignore[method-assign]
                                            transport=transport)
        counts = {f"You see here {i} arrows.": 3 for i in range(20)}
        client.record_episode(counts)
        assert client.flush(timeout=30) and client.stats.errors == 1
        client.close()
        with sqlite3.connect(f"file:{config.store}?mode=ro", uri=True) as db:
            stored = dict(db.execute("SELECT text, count FROM messages"))
        assert stored == counts  # every message counted exactly once
        assert client.stats.messages_sent == 20
