"""Whether the agents are farming the table: the share of recent message reports it pays.

A judge's table pays a few messages: in NetHack Score runs of ONI-retrieval 0.3–0.4% of what
agents reported was paid. A policy that is paid for messages looks for
whatever the table pays, and where a junk message scores just above the cut and episodes are
short, it learns to produce that message again each episode (the paper's count scaling divides by the
count *within* an episode): on MiniHack's LavaCross, retrieval's agents made 77–83% of their
reports paid junk ("Your face is already clean.", "You sit on the stairs."). The returns do not
say so (the agent is doing what it is paid for); the reports do, so the server watches them
and says so, with the messages to read in ``GET /v1/paid`` and name with ``--goal-counterexample``
(or the wrappers' cross-episode decay, which makes each repeat pay less).

Reports are taken in consecutive blocks of at least ``window`` reports (a block closes with the
batch that fills it, so one large batch, such as counts a client saved up while the server was
away, can make a block alone); the share is that of the last closed block, at the cost of one
dict lookup per distinct message reported. A warning is due when a block reaches ``warn_share``;
the next only after a block has fallen below :data:`REARM` of it, so a share hovering at the
line does not warn every other block.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

#: a block must fall below this fraction of the warning share before the next warning
REARM = 0.8


@dataclass(frozen=True)
class PaidShare:
    """One closed block of reports: the share the table paid, and its most reported paid messages."""

    share: float
    reports: int
    top_paid: tuple[tuple[str, int], ...]

    def warning(self) -> str:
        top = ", ".join(f"{text!r} ({count:,})" for text, count in self.top_paid)
        return (f"{100 * self.share:.0f}% of the last {self.reports:,} message reports were of messages the table "
                f"pays, most of all {top}. A judge's table pays a few messages: agents this often paid may be "
                "farming messages that are not progress (with the paper's episodic count, each episode pays them "
                "again). Read GET /v1/paid and name the junk with --goal-counterexample, or, if the wrappers do "
                "not already, have them pay a message less in each episode that paid it before (the trainer's "
                "--cross-episode-exponent, the wrapper's cross_episode_exponent).")


class PaidShareWatch:
    """The paid share of the last closed block of reports; says when a warning is due."""

    def __init__(self, window: int, warn_share: float, top: int = 3) -> None:
        if window < 1:
            raise ValueError(f"the paid-share window is a number of reports (1 or more), not {window}")
        self.window = window
        self.warn_share = warn_share
        self.top = top
        #: the last closed block, ``None`` until ``window`` reports have arrived
        self.last: PaidShare | None = None
        self._reports = 0
        self._paid: Counter[str] = Counter()
        self._armed = True

    def add(self, counts: Mapping[str, int], pays: Callable[[str], bool]) -> PaidShare | None:
        """Count one batch of reports; returns the block it closed if that block calls for a warning."""
        for text, count in counts.items():
            if count > 0 and pays(text):
                self._paid[text] += count
        self._reports += sum(counts.values())
        if self._reports < self.window:
            return None
        block = PaidShare(sum(self._paid.values()) / self._reports, self._reports,
                          tuple(self._paid.most_common(self.top)))
        self.last, self._reports, self._paid = block, 0, Counter()
        if self.warn_share <= 0:
            return None
        if block.share < REARM * self.warn_share:
            self._armed = True
        elif block.share >= self.warn_share and self._armed:
            self._armed = False
            return block
        return None

    @property
    def share(self) -> float | None:
        return self.last.share if self.last else None
