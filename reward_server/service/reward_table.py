"""The published message → reward table, versioned so clients can pull only what changed.

Every publish gets the next version number and records which messages changed. A client that
holds version V asks for ``since=V`` and receives the current reward of each message changed
after V — a delta whose size is what changed, not the table's size.

The change log is bounded (``max_log_rows`` changed rows): the oldest versions fall out of it.
A client whose version fell out, or whose delta would be larger than ``max_delta_rows``, is told
to take the whole table instead (:meth:`RewardTable.since` returns ``None``), which the service
serves from a prepared snapshot off the event loop. Nothing here is O(table size) after start-up.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping


class RewardTable:
    """In-memory mirror of the store's ``rewards`` table with a bounded per-version change log."""

    def __init__(self, max_log_rows: int = 2_000_000, max_delta_rows: int = 200_000) -> None:
        self.rewards: dict[str, float] = {}
        self.version = 0
        self.max_log_rows = max_log_rows
        self.max_delta_rows = max_delta_rows
        #: versions before this one are not in the change log (a client there needs the whole table)
        self.log_start = 0
        #: changed rows dropped from the change log to keep it under ``max_log_rows``
        self.log_evicted_rows = 0
        self._positive = 0  # rows with a reward > 0, kept as rows change (stats read it per scrape)
        self._log_versions: list[int] = []
        self._log_changes: list[tuple[str, ...]] = []
        self._log_ends: list[int] = []  # cumulative changed rows up to and including each entry
        self._log_head = 0  # entries before this index were evicted (compacted now and then)
        self._head_rows = 0  # cumulative rows of the evicted entries (``_log_ends`` counts from 0)

    @property
    def log_rows(self) -> int:
        """Changed rows the change log holds."""
        return self._log_ends[-1] - self._head_rows if self._log_ends else 0

    def load(self, rows: Iterable[tuple[str, float, int]], version: int) -> None:
        """Rebuild from stored rows (text, reward, version) after a restart; the change log gets
        the newest versions, up to ``max_log_rows`` rows."""
        by_version: dict[int, list[str]] = {}
        for text, reward, row_version in rows:
            self._set(text, reward)
            by_version.setdefault(row_version, []).append(text)
        kept, total = [], 0
        for row_version in sorted(by_version, reverse=True):
            if total + len(by_version[row_version]) > self.max_log_rows:
                break
            kept.append(row_version)
            total += len(by_version[row_version])
        self.log_start = (kept[-1] - 1) if kept else version
        for row_version in reversed(kept):
            self._append(row_version, tuple(by_version[row_version]))
        self.version = version

    def changed_rows(self, proposed: Mapping[str, float]) -> dict[str, float]:
        """The subset of ``proposed`` that differs from (or is new to) the table."""
        return {t: r for t, r in proposed.items() if self.rewards.get(t) != r}

    def apply(self, rows: Mapping[str, float], version: int) -> None:
        """Record rows already persisted under ``version``."""
        if version <= self.version:
            raise ValueError(f"version {version} is not newer than {self.version}")
        for text, reward in rows.items():
            self._set(text, reward)
        self.version = version
        if rows:
            self._append(version, tuple(rows))
            self._evict()

    def since(self, version: int) -> dict[str, float] | None:
        """Current rewards of every message changed after ``version``; ``None`` when the client
        needs the whole table (version 0 or unknown, fallen out of the log, or a delta too big)."""
        if version <= 0 or version > self.version or version < self.log_start:
            return None
        start = bisect.bisect_right(self._log_versions, version, lo=self._log_head)
        if start < len(self._log_ends):
            before = self._log_ends[start - 1] if start > self._log_head else self._head_rows
            if self._log_ends[-1] - before > self.max_delta_rows:
                return None
        changed: dict[str, float] = {}
        for texts in self._log_changes[start:]:
            for text in texts:
                changed[text] = self.rewards[text]
        return changed

    def positive_share(self) -> float:
        return self._positive / len(self.rewards) if self.rewards else 0.0

    def _set(self, text: str, reward: float) -> None:
        self._positive += (reward > 0) - (self.rewards.get(text, 0.0) > 0)
        self.rewards[text] = reward

    def _append(self, version: int, texts: tuple[str, ...]) -> None:
        self._log_versions.append(version)
        self._log_changes.append(texts)
        self._log_ends.append((self._log_ends[-1] if self._log_ends else self._head_rows) + len(texts))

    def _evict(self) -> None:
        """Drop the oldest versions until the log holds at most ``max_log_rows`` rows."""
        while self.log_rows > self.max_log_rows and self._log_head < len(self._log_versions) - 1:
            self.log_evicted_rows += len(self._log_changes[self._log_head])
            self._log_changes[self._log_head] = ()
            self.log_start = self._log_versions[self._log_head]
            self._head_rows = self._log_ends[self._log_head]
            self._log_head += 1
        if self._log_head > 1024 and self._log_head * 2 > len(self._log_versions):
            # compact now and then: amortised O(1) per publish
            del self._log_versions[: self._log_head], self._log_changes[: self._log_head]
            del self._log_ends[: self._log_head]
            self._log_head = 0
