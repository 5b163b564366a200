"""Where to cut the judge's yes-vs-no log-odds: which messages are labelled helpful.

Three modes (``--calibration``):

* ``examples`` (default): the cut follows the judge's own evidence on labelled messages it has
  *not* seen in its prompt (``prompts.calibration_examples``: kills, gold, stairs and the junk
  an agent meets — pet kills, prompts, hunger, prayer, doors). The judge scores them exactly as
  it scores real messages, and the cut is the widest gap between their helpful and unhelpful
  scores (:func:`evidence_cut`). It adapts to any model's bias (a small model that leans "No"
  gets a low cut) without paying a share of whatever arrives. ``positive_share`` is only a
  ceiling: should more than that share of the messages seen score above the cut (a judge that
  says yes to everything), the cut rises to the quantile that pays that share.
* ``quantile``: the cut is the running (1 − positive_share) quantile of every score seen — a
  quota. An agent's own play is mostly junk, so a quota pays a fixed share of junk (measured:
  25% of the unhelpful messages of agent play were paid this way); kept to compare.
* ``fixed``: a constant cut (``--threshold``).

Scores are kept in a sorted list (sortedcontainers), so adding one and reading the cut cost
O(log N), however many messages the server has seen.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Literal

from sortedcontainers import SortedList

CalibrationMode = Literal["examples", "quantile", "fixed"]


def evidence_cut(helpful: Sequence[float], unhelpful: Sequence[float], false_positive_cost: float = 2.0) -> float:
    """The log-odds cut that best separates scores of known helpful and unhelpful messages.

    No helpful scores (a goal written as text: only messages known to help no goal are
    labelled): the highest unhelpful score, so only what the judge rates above every one of them
    is paid. Separable scores: the midpoint of the gap between the highest unhelpful and the lowest
    helpful one (the widest margin). Otherwise the cut that minimises missed helpful messages
    plus ``false_positive_cost`` times paid unhelpful ones: an agent meets far more unhelpful
    messages than helpful ones, so paying one costs more than missing one.
    """
    if not unhelpful:
        raise ValueError("the cut needs scores of unhelpful messages")
    if not helpful:
        return max(unhelpful)
    if max(unhelpful) < min(helpful):
        return (max(unhelpful) + min(helpful)) / 2.0
    values = sorted([*helpful, *unhelpful])
    candidates = [(low + high) / 2.0 for low, high in itertools.pairwise(values) if high > low]
    if not candidates:  # every score the same: nothing separates them; pay none of them
        return values[0]

    def cost(cut: float) -> tuple[float, float]:
        missed = sum(score <= cut for score in helpful)
        paid = sum(score > cut for score in unhelpful)
        return missed + false_positive_cost * paid, -cut  # ties: the higher cut

    return min(candidates, key=cost)


def cut_above_counterexamples(cut: float, counterexample_scores: Iterable[float]) -> float:
    """``cut`` raised to the highest score of a message the user named as not progress.

    :func:`evidence_cut` weighs paid junk against missed progress; a counterexample is the user's
    word, not a weight, so the cut is at least its score (labels are ``score > cut``: it goes
    unpaid, and so does anything the judge rates no higher).
    """
    return max([cut, *counterexample_scores])


class ThresholdCalibrator:
    """The running log-odds cut over every score of one question (see the module docstring)."""

    def __init__(
        self,
        mode: CalibrationMode = "examples",
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
        #: the cut from the labelled examples (``examples`` mode); None until they are scored
        self.evidence: float | None = None
        self._sorted: SortedList = SortedList()

    def add(self, score: float) -> None:
        self._sorted.add(score)

    def update(self, scores: Iterable[float]) -> None:
        """Add many scores at once (sorted in one pass when there are many)."""
        self._sorted.update(scores)

    def remove(self, score: float) -> None:
        self._sorted.remove(score)

    @property
    def samples(self) -> int:
        return len(self._sorted)

    @property
    def threshold(self) -> float:
        """Scores strictly above this are labelled helpful."""
        if self.mode == "fixed":
            return self.fixed_threshold
        if self.mode == "quantile":
            return self._quantile() if len(self._sorted) >= self.min_samples else self.fixed_threshold
        cut = self.evidence if self.evidence is not None else self.fixed_threshold
        if len(self._sorted) >= self.min_samples:
            cut = max(cut, self._quantile())  # the share is a ceiling, never a quota
        return cut

    def _quantile(self) -> float:
        """The cut above which ``positive_share`` of the scores lie (midpoint between neighbours,
        so ties at the quantile fall on the negative side)."""
        index = int((1.0 - self.positive_share) * len(self._sorted))
        index = min(max(index, 0), len(self._sorted) - 1)
        above = self._sorted[index]
        below = self._sorted[index - 1] if index > 0 else above - 1.0
        return (below + above) / 2.0

    def label(self, score: float) -> int:
        return int(score > self.threshold)
