"""Small helpers shared by the tests that talk to a live server."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from reward_server.config import ServerConfig
from reward_server.service.reward_service import annotation_key
from reward_server.storage.store import Annotation, Store


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll ``predicate`` until it holds; False if it never did within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def stats(server) -> dict:  # type: ignore[no-untyped-def]
    """The server's /v1/stats (``server`` has a ``url``)."""
    return httpx.get(server.url + "/v1/stats").json()


def start_server(fake_llm, store: Path, port: int, *extra: str) -> subprocess.Popen:  # type: ignore[no-untyped-def]
    """``python -m reward_server`` on ``port``, labelling with the fake LLM; returns once healthy.

    No preflight: its question would skew the tests' counts of LLM requests (tests/reward_server/test_preflight.py).
    """
    cmd = [sys.executable, "-m", "reward_server", "--llm", "openai/fake-judge", "--api-base", fake_llm.api_base,
           "--api-key", "x", "--store", str(store), "--port", str(port), "--calibration", "fixed",
           "--no-preflight", "--log-level", "WARNING", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"server exited {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.2)


def seed_helpful_walls(config: ServerConfig) -> None:
    """Store the judge's answer "helpful" for two messages random play meets every few
    steps, so the run is paid for sure: the default judge pays few messages, and in 1,536 random
    frames none of them may come up (it happened). Everything else is labelled by the real LLM."""
    key = annotation_key(config)  # the question the server with ``config`` asks
    walls = ["It's a wall.", "It's solid stone."]
    with Store(config.store) as store:
        store.add_messages(dict.fromkeys(walls, 1))
        store.add_annotations(key, [Annotation(text, None, 8.0, "seeded by the test") for text in walls])
