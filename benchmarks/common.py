"""Shared helpers for the benchmark scripts: a reward server in its own process."""

from __future__ import annotations

import contextlib
import os
import platform
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


def interpreter() -> str:
    """Which CPython runs the benchmark, and whether it calls into a shared ``libpython``.

    The wrapper's cost is interpreter work, so it depends on the build: pyenv's default build links
    ``libpython`` as a shared library (every call inside the interpreter goes through the PLT) and
    is not profile-optimised, while distro, conda and python.org builds are usually static and
    optimised. Read from this process's own memory map, which cannot be wrong about it.
    """
    maps = Path("/proc/self/maps")
    shared = "libpython" in maps.read_text() if maps.exists() else None
    linked = {True: "libpython shared", False: "libpython static", None: "linking unknown"}[shared]
    return f"Python {platform.python_version()} at {sys.executable} ({linked})"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(*extra_args: str, store: str | None = None, start_timeout: float = 120) -> Iterator[str]:
    """``python -m reward_server`` in a subprocess on a free port; yields its URL."""
    with server_process(*extra_args, store=store, start_timeout=start_timeout) as (url, _):
        yield url


@contextlib.contextmanager
def server_process(*extra_args: str, store: str | None = None,
                   start_timeout: float = 120) -> Iterator[tuple[str, subprocess.Popen]]:
    """Like :func:`running_server`, also yielding the process (for its PID and RSS)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "reward_server", "--port", str(port),
               "--store", store or os.path.join(tmp, "oni.sqlite"), "--log-level", "WARNING", *extra_args]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_timeout
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


def synthetic_messages(count: int, start: int = 0) -> list[str]:
    """``count`` distinct NLE-like messages (items, monsters, gold amounts, engravings), the kind
    that makes a long run meet 10⁵–10⁶ distinct messages."""
    families = [
        "You see here {n} {item}s.", "You kill the {monster} number {n}!", "$ - {n} gold pieces.",
        "The {monster} bites!  You see here {n} {item}s.", "Something is written here in the dust.  It reads: \"{n}\".",
        "{letter} - a scroll labeled {word} {n}.", "You hear the footsteps of {n} guards.",
    ]
    items = ["arrow", "dart", "rock", "dagger", "gem", "food ration", "tin", "scroll"]
    monsters = ["newt", "jackal", "gnome lord", "hill orc", "grid bug", "lichen", "kobold"]
    words = ["ZELGO MER", "FOOBIE BLETCH", "ELBIB YLOH", "KIRJE", "VENZAR BORGAVVE"]
    out = []
    for i in range(start, start + count):
        template = families[i % len(families)]
        out.append(template.format(n=i, item=items[i % len(items)], monster=monsters[i % len(monsters)],
                                   letter=chr(ord("a") + i % 26), word=words[i % len(words)]))
    return out


def make_labelled_store(path: str | Path, count: int, server_args: list[str]) -> None:
    """A store holding ``count`` messages already answered under the question a server started
    with ``server_args`` asks (so it serves them without asking its LLM)."""
    import numpy as np
    from pydantic_settings import CliApp

    from reward_server.config import ServerConfig
    from reward_server.service import annotation_key
    from reward_server.storage import Annotation, Store

    config = CliApp.run(ServerConfig, cli_args=[*server_args, "--store", str(path), "--no-preflight"])
    key = annotation_key(config)
    messages = synthetic_messages(count)
    scores = np.random.default_rng(0).normal(-2.0, 1.5, size=count)  # about 9% above a cut of 0
    with Store(path) as store:
        store.import_answers({m: 1 for m in messages},
                             {key: [Annotation(m, None, float(s), "synthetic") for m, s in zip(messages, scores)]}, {})
