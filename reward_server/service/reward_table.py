"""The published message → reward table, versioned so clients can pull only what changed.

Every publish gets the next version number and records which messages changed. A client that
holds version V asks for ``since=V`` and receives the current reward of each message changed
after V — a delta whose size is what changed, not the table's size.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping


class RewardTable:
    """In-memory mirror of the store's ``rewards`` table with a per-version change log."""

    def __init__(self) -> None:
        self.rewards: dict[str, float] = {}
        self.version = 0
        self._positive = 0  # rows with a reward > 0, kept as rows change (stats read it per scrape)
        self._log_versions: list[int] = []
        self._log_changes: list[tuple[str, ...]] = []

    def load(self, rows: Iterable[tuple[str, float, int]], version: int) -> None:
        """Rebuild from stored rows (text, reward, version) after a restart."""
        by_version: dict[int, list[str]] = {}
        for text, reward, row_version in rows:
            self._set(text, reward)
            by_version.setdefault(row_version, []).append(text)
        for row_version in sorted(by_version):
            self._log_versions.append(row_version)
            self._log_changes.append(tuple(by_version[row_version]))
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
            self._log_versions.append(version)
            self._log_changes.append(tuple(rows))

    def since(self, version: int) -> dict[str, float]:
        """Current rewards of every message changed after ``version`` (all rows for 0)."""
        if version <= 0 or version > self.version:
            return dict(self.rewards)
        start = bisect.bisect_right(self._log_versions, version)
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
