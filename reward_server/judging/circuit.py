"""A circuit breaker in front of the LLM.

Without one, a dead LLM costs every worker a full retry ladder (timeouts, backoff) per
message, forever: the log fills, the model server gets hammered the moment it comes back, and
shutdown waits on long timeouts. After ``failure_threshold`` consecutive failed calls the
breaker *opens*: calls fail at once without touching the network. After ``reset_after``
seconds it lets a single probe through (*half-open*); the probe's success closes it, its
failure opens it again for another ``reset_after``.

Single event loop, no locks: all methods are called from the server's loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

CircuitState = Literal["closed", "open", "half_open"]


class CircuitOpen(RuntimeError):
    """The breaker refused a call: the LLM failed repeatedly and is being left alone."""


@dataclass
class CircuitBreaker:
    failure_threshold: int = 5
    reset_after: float = 10.0
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.consecutive_failures = 0
        self.opened = 0  # times the breaker opened
        self.rejected = 0  # calls refused while open
        self._opened_at: float | None = None
        self._outage_since: float | None = None  # first opening since the last success
        self._probe_out = False

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return "closed"
        if self.clock() - self._opened_at >= self.reset_after:
            return "half_open"
        return "open"

    def before_call(self) -> None:
        """Raise :class:`CircuitOpen` unless a call may go out now."""
        state = self.state
        if state == "closed":
            return
        if state == "half_open" and not self._probe_out:
            self._probe_out = True  # exactly one probe at a time
            return
        self.rejected += 1
        raise CircuitOpen(
            f"LLM circuit open after {self.consecutive_failures} consecutive failures; "
            f"next probe in {self.retry_in():.1f}s"
        )

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self._opened_at = None
        self._outage_since = None
        self._probe_out = False

    def record_abandoned(self) -> None:
        """The call ended without telling anything about the LLM's health (cancelled, or a
        permanent error such as a bad request): free the probe slot, change nothing else."""
        self._probe_out = False

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        probing = self._probe_out
        self._probe_out = False
        if probing or (self._opened_at is None and self.consecutive_failures >= self.failure_threshold):
            if self._opened_at is None:
                self.opened += 1
            self._opened_at = self.clock()
            if self._outage_since is None:
                self._outage_since = self._opened_at

    def open_for(self) -> float:
        """Seconds since the breaker first opened without a success since (0 when closed)."""
        if self._outage_since is None:
            return 0.0
        return self.clock() - self._outage_since

    def retry_in(self) -> float:
        """Seconds until the next probe may go out (0 when closed or half-open)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.reset_after - (self.clock() - self._opened_at))
