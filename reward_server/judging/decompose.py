"""Scoring a NetHack message line part by part.

NLE shows every message of a turn on one line, joined by two spaces ("You kill the newt!  The
grid bug bites!"). A small judge scores such a line by its mix, so a kill next to a bite or
"You hear someone counting money." next to a wall can sink below a lone wall. Judging each part
and keeping the best makes a line as helpful as its most helpful message, which on the dev set
lifts the default judge from AUC 0.95 to 0.98 (docs/results.md).

Quoted text is never split: ``You read: "You kill the newt!  $ - 500 gold pieces."`` is one
engraving, not a kill and a pile of gold, and judging its pieces alone would pay the best of
them. (What the judge is shown of a quotation is decided in prompts.py.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Where NLE joins two messages: sentence-ending punctuation (maybe closing a quotation), then two
#: or more spaces. One space stays inside a message ("What do you want to eat? [fg or ?*]" is one
#: prompt).
_JOIN = re.compile(r'(?:(?<=[.!?])|(?<=[.!?]"))\s{2,}')


def split_messages(line: str) -> list[str]:
    """The messages NLE joined into ``line``, in order; ``[line]`` when there is only one.

    Joins inside double quotes (up to the closing quote, or the end of a line cut short) are
    part of the quotation and stay.
    """
    parts, start = [], 0
    for join in _JOIN.finditer(line):
        if line.count('"', 0, join.start()) % 2 == 0:  # outside any quotation
            parts.append(line[start : join.start()].strip())
            start = join.end()
    parts.append(line[start:].strip())
    return [part for part in parts if part] or [line]


def best_part(scores: Sequence[float | None]) -> float | None:
    """The line's score: its best part's, ignoring parts the judge could not answer.

    ``None`` only when no part was answered, so one unparsable part never hides a kill.
    """
    answered = [s for s in scores if s is not None]
    return max(answered) if answered else None
