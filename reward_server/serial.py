"""Two pieces of asyncio plumbing the service, the trainer and the annotator share.

* :class:`SerialThread`: blocking work (SQLite, scikit-learn) runs on one thread per owner, so
  the event loop never waits on it and the owner's state is touched by one thread only.
* :func:`woken_or_timed_out`: a loop that runs every ``interval`` seconds or as soon as it is
  woken (a batch filled up, enough new labels arrived).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class SerialThread:
    """One worker thread; :meth:`run` awaits a call on it from the event loop."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the thread, from outside a loop (shutdown)."""
        return self._executor.submit(fn, *args).result()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


async def woken_or_timed_out(wake: asyncio.Event, interval: float) -> bool:
    """Wait until ``wake`` is set or ``interval`` seconds pass; clears it; True if it was set."""
    try:
        await asyncio.wait_for(wake.wait(), timeout=interval)
    except TimeoutError:
        pass
    woken = wake.is_set()
    wake.clear()
    return woken
