"""Choosing the decision threshold on yes-vs-no log-odds.

A small model is biased toward one answer: SmolLM2-135M says "No" to almost everything, so a
threshold of 0 on log P(yes) − log P(no) labels nearly nothing helpful even when the margins
still *rank* messages sensibly. The ``quantile`` calibrator puts the threshold at the running
(1 − positive_share) quantile of all margins seen under one question, so the top share of
messages by margin is labelled helpful; ``fixed`` keeps a constant threshold.
"""

from __future__ import annotations

import bisect
from typing import Literal

CalibrationMode = Literal["fixed", "quantile"]


class ThresholdCalibrator:
    """Running threshold over the margins of every annotation of one question."""

    def __init__(
        self,
        mode: CalibrationMode = "quantile",
        *,
        fixed_threshold: float = 0.0,
        positive_share: float = 0.25,
        min_samples: int = 16,
    ) -> None:
        if not 0.0 < positive_share < 1.0:
            raise ValueError(f"positive_share must be in (0, 1), got {positive_share}")
        self.mode = mode
        self.fixed_threshold = fixed_threshold
        self.positive_share = positive_share
        self.min_samples = min_samples
        self._sorted: list[float] = []

    def add(self, score: float) -> None:
        bisect.insort(self._sorted, score)

    @property
    def samples(self) -> int:
        return len(self._sorted)

    @property
    def threshold(self) -> float:
        """Margins strictly above this are labelled helpful."""
        if self.mode == "fixed" or len(self._sorted) < self.min_samples:
            return self.fixed_threshold
        index = int((1.0 - self.positive_share) * len(self._sorted))
        index = min(max(index, 0), len(self._sorted) - 1)
        # Midpoint between neighbours so ties at the quantile fall on the negative side.
        below = self._sorted[index - 1] if index > 0 else self._sorted[index] - 1.0
        return (below + self._sorted[index]) / 2.0

    def label(self, score: float) -> int:
        return int(score > self.threshold)
