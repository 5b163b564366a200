"""Shared helpers for the benchmark scripts: a reward server in its own process."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

#: Labelled NLE messages shipped with the benchmarks (see benchmarks/data/README.md).
DATA_DIR = Path(__file__).resolve().parent / "data"
#: Random play, default and stairs goals: where the helpful messages come from.
DEV_DATA = DATA_DIR / "messages_dev.jsonl"
#: What training agents meet (default, gold, combat, stairs goals), with how often they met each.
AGENTPLAY_DATA = DATA_DIR / "messages_agentplay_dev.jsonl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(*extra_args: str, store: str | None = None) -> Iterator[str]:
    """``python -m reward_server`` in a subprocess on a free port; yields its URL."""
    with server_process(*extra_args, store=store) as (url, _):
        yield url


@contextlib.contextmanager
def server_process(*extra_args: str, store: str | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """Like :func:`running_server`, also yielding the process (for its PID, RSS, signals)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "reward_server", "--port", str(port),
               "--store", store or os.path.join(tmp, "oni.sqlite"), "--log-level", "WARNING", *extra_args]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"reward server did not start: {' '.join(cmd)}")
                time.sleep(0.2)
            yield url, proc
        finally:
            proc.terminate()
            proc.wait(30)


def wait_until_labelled(url: str, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        stats = httpx.get(url + "/v1/stats", timeout=30).json()
        if stats["queued"] + stats["in_flight"] == 0 or time.monotonic() > deadline:
            return stats
        time.sleep(0.5)
