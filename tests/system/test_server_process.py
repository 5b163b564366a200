"""The server as users run it: `python -m reward_server` in its own process."""

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import httpx
import nle  # noqa: F401
import pytest

from oni_wrappers import OniRewardWrapper, RewardClient
from tests.helpers import free_port, start_server, wait_for


def listening_addresses(port):
    """IPv4 addresses with a socket listening on ``port`` (from /proc/net/tcp, Linux)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
            found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
    return found


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_flushes_and_exits_zero(fake_llm, tmp_path, stop_signal):
    port, store = free_port(), tmp_path / "oni.sqlite"
    proc = start_server(fake_llm, store, port)
    assert listening_addresses(port) == {"127.0.0.1"}  # loopback unless --host says otherwise
    url = f"http://127.0.0.1:{port}"
    texts = [f"You kill the newt number {i}!" for i in range(20)]
    httpx.post(url + "/v1/messages", json={"messages": [{"text": t} for t in texts]})
    assert wait_for(lambda: httpx.get(url + "/v1/stats").json()["labelled"] == len(texts))
    proc.send_signal(stop_signal)
    assert proc.wait(30) == 0
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM annotations").fetchone()[0] == len(texts)
        assert db.execute("SELECT COUNT(*) FROM rewards WHERE reward = 1.0").fetchone()[0] == len(texts)


def test_wrapper_rides_through_kill_and_restart(fake_llm, tmp_path):
    port, store = free_port(), tmp_path / "oni.sqlite"
    url = f"http://127.0.0.1:{port}"
    proc = start_server(fake_llm, store, port)
    client = RewardClient(url, sync_interval=0.05, timeout=0.5, max_backoff=1.0)
    env = OniRewardWrapper(gym.make("NetHackScore-v0"), server=client)
    try:
        env.reset(seed=0)
        env.action_space.seed(0)

        def play(steps):
            for _ in range(steps):
                *_, terminated, truncated, _ = env.step(env.action_space.sample())
                if terminated or truncated:
                    env.reset()

        play(200)
        assert wait_for(lambda: client.stats.messages_sent > 0 and client.version > 0)

        def all_labelled_and_published():
            s = httpx.get(url + "/v1/stats").json()
            return s["queued"] + s["in_flight"] == 0 and s["labelled"] == s["messages"]

        assert wait_for(all_labelled_and_published)
        client.flush()
        before_kill = dict(client.table)
        proc.kill()  # SIGKILL: no cleanup at all
        proc.wait(10)
        play(300)  # the env keeps stepping with the last table
        assert wait_for(lambda: not client.stats.connected)
        client.observe("You kill the restart newt!")  # seen while the server is down
        proc = start_server(fake_llm, store, port)
        assert wait_for(lambda: client.table.get("You kill the restart newt!") == 1.0, timeout=30)
        asked = [q for q in fake_llm.behaviour.questions if "restart newt" in q]
        assert len(asked) == 1
        # labels made before the kill survived it unchanged
        assert all(client.table.get(m) == r for m, r in before_kill.items())
    finally:
        client.close()
        env.close()
        proc.terminate()
        proc.wait(30)


def test_kill_9_mid_annotation_loses_no_answer_and_asks_nothing_twice(fake_llm, tmp_path):
    port, store = free_port(), tmp_path / "oni.sqlite"
    url = f"http://127.0.0.1:{port}"
    fake_llm.behaviour.delay = 0.2  # a slow LLM, so the kill lands with work in flight
    concurrency = 4
    # a large publish batch and interval: answers sit unpublished when the kill comes
    proc = start_server(fake_llm, store, port, "--concurrency", str(concurrency), "--batch-size", "1000")
    texts = [f"You kill the kill-test newt {i}!" for i in range(40)]
    httpx.post(url + "/v1/messages", json={"messages": [{"text": t} for t in texts]})
    assert wait_for(lambda: httpx.get(url + "/v1/stats").json()["judged"] >= 8)
    judged_before_kill = httpx.get(url + "/v1/stats").json()["judged"]
    proc.kill()
    proc.wait(10)
    with sqlite3.connect(store) as db:
        stored = db.execute("SELECT COUNT(*) FROM annotations").fetchone()[0]
    assert stored >= judged_before_kill  # every answer the server had received is on disk
    asked_before_restart = fake_llm.behaviour.requests
    proc = start_server(fake_llm, store, port, "--concurrency", str(concurrency))
    try:
        assert wait_for(lambda: httpx.get(url + "/v1/stats").json()["labelled"] == len(texts), timeout=60)
        # only the unanswered remainder was asked after the restart ...
        assert fake_llm.behaviour.requests - asked_before_restart == len(texts) - stored
        # ... so in total nothing beyond the calls in flight at the kill was asked twice
        assert fake_llm.behaviour.requests <= len(texts) + concurrency
        rewards = httpx.get(url + "/v1/rewards", params={"since": 0}).json()["rewards"]
        assert all(rewards[t] == 1.0 for t in texts)
    finally:
        proc.terminate()
        proc.wait(30)


def test_binds_all_interfaces_only_when_asked(fake_llm, tmp_path):
    port = free_port()
    proc = start_server(fake_llm, tmp_path / "oni.sqlite", port, "--host", "0.0.0.0", "--token", "secret")
    try:
        assert listening_addresses(port) == {"0.0.0.0"}
        assert httpx.get(f"http://127.0.0.1:{port}/v1/stats").status_code == 401
    finally:
        proc.terminate()
        proc.wait(30)


def test_other_interfaces_without_a_token_need_insecure_no_token(fake_llm, tmp_path):
    cmd = [sys.executable, "-m", "reward_server", "--llm", "openai/fake-judge", "--api-base", fake_llm.api_base,
           "--store", str(tmp_path / "oni.sqlite"), "--port", str(free_port()), "--host", "0.0.0.0"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and "--insecure-no-token" in done.stderr
    assert not (tmp_path / "oni.sqlite").exists()
    port = free_port()
    proc = start_server(fake_llm, tmp_path / "oni.sqlite", port, "--host", "0.0.0.0", "--insecure-no-token")
    try:
        assert listening_addresses(port) == {"0.0.0.0"}
    finally:
        proc.terminate()
        proc.wait(30)


def test_one_server_per_store_and_no_import_into_a_running_one(fake_llm, tmp_path):
    port, store = free_port(), tmp_path / "oni.sqlite"
    proc = start_server(fake_llm, store, port)
    try:
        url = f"http://127.0.0.1:{port}"
        httpx.post(url + "/v1/messages", json={"messages": [{"text": "You kill the newt!"}]})
        assert wait_for(lambda: httpx.get(url + "/v1/stats").json()["labelled"] == 1)
        second = [sys.executable, "-m", "reward_server", "--llm", "openai/fake-judge", "--api-base", fake_llm.api_base,
                  "--store", str(store), "--port", str(free_port()), "--no-preflight"]
        done = subprocess.run(second, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2, done.stderr[-2000:]
        assert f"process {proc.pid}" in done.stderr and f"127.0.0.1:{port}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        labels = tmp_path / "labels.jsonl"
        export = [sys.executable, "-m", "reward_server", "export", str(labels), "--store", str(store)]
        assert subprocess.run(export, capture_output=True, text=True, timeout=120, check=False).returncode == 0
        importing = [sys.executable, "-m", "reward_server", "import", str(labels), "--store", str(store)]
        done = subprocess.run(importing, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2 and "nothing imported" in done.stderr and f":{port}" in done.stderr, done.stderr
        assert "stop that process first" in done.stderr
    finally:
        proc.terminate()
        proc.wait(30)
    done = subprocess.run(importing, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr  # with the server stopped, the import goes through
