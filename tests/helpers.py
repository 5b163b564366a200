"""Small helpers shared by the tests that talk to a live server."""

from __future__ import annotations

import time
from collections.abc import Callable

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
