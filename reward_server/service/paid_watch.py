"""Whether the agents are farming the table: the share of recent message reports it pays.

A judge's table pays a few messages: on NetHack agent play the messages a strong judge calls
helpful are well under 1% of what agents report. A policy that is paid for messages looks for
whatever the table pays, and where a junk message scores just above the cut and episodes are
short, it learns to produce that message again each episode (the count scaling divides by the
count *within* an episode): on MiniHack's LavaCross, retrieval's agents made 79% of their reports
paid junk ("Your face is already clean.", "You sit on the stairs."). That is visible in the
reports long before it is in the returns, so the server watches it and says so once, with the
messages to read in ``GET /v1/paid`` and name with ``--goal-counterexample``.

Reports are taken in consecutive blocks of ``window`` reports; the share is that of the last
full block (so one burst cannot trip it and the cost per report is one dict lookup). A warning
is due when a block crosses ``warn_share`` from below; the next is due only after a block has
fallen back under it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class PaidShare:
    """One full block of reports: the share the table paid, and its most reported paid messages."""

    share: float
    reports: int
    top_paid: list[tuple[str, int]]


class PaidShareWatch:
    """The paid share of the last full block of reports; says when a warning is due."""

    def __init__(self, window: int, warn_share: float, top: int = 3) -> None:
        if window < 1:
            raise ValueError(f"the paid-share window is a number of reports (1 or more), not {window}")
        self.window = window
        self.warn_share = warn_share
        self.top = top
        #: the last full block, ``None`` until ``window`` reports have arrived
        self.last: PaidShare | None = None
        self._reports = 0
        self._paid: Counter[str] = Counter()
        self._above = False

    def add(self, counts: Mapping[str, int], pays: Callable[[str], bool]) -> PaidShare | None:
        """Count one batch of reports; returns the block just completed if it calls for a warning."""
        for text, count in counts.items():
            if count > 0 and pays(text):
                self._paid[text] += count
        self._reports += sum(counts.values())
        if self._reports < self.window:
            return None
        block = PaidShare(sum(self._paid.values()) / self._reports, self._reports, self._paid.most_common(self.top))
        self.last, self._reports, self._paid = block, 0, Counter()
        crossed = block.share >= self.warn_share > 0 and not self._above
        self._above = block.share >= self.warn_share
        return block if crossed else None

    @property
    def share(self) -> float | None:
        return self.last.share if self.last else None
