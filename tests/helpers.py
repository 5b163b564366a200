"""Small helpers shared by the tests that talk to a live server."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx


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

    No preflight: its question would skew the tests' counts of LLM requests (tests/test_preflight.py).
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
