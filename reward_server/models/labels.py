"""The LLM's label of every message it was asked about (1 helpful, 0 not): what retrieval serves
and the learned models train on.

Unlabelled and unparsable messages have no label / label 0. In logprob mode a message's label is its log-odds
score against the calibrated threshold; when new annotations (or the labelled examples) move
the threshold, the messages whose score lies between the old and the new threshold flip.
They are found in a sorted list of (score, message) in O(log N + flips), so :meth:`add`
proposes only the rows that may change, never the whole table.
"""

from __future__ import annotations

from collections.abc import Iterable

from sortedcontainers import SortedList

from reward_server.models.calibration import ThresholdCalibrator
from reward_server.storage.store import Annotation


class Labels:
    def __init__(self, calibrator: ThresholdCalibrator, never_helpful: frozenset[str] = frozenset()) -> None:
        self.calibrator = calibrator
        #: the user's counterexamples: labelled 0 whatever the LLM answers, so a learned model never
        #: trains on one as helpful (its calibration holds them as unhelpful)
        self.never_helpful = never_helpful
        self._labels: dict[str, int] = {}  # generate-mode labels, final as given
        self._scores: dict[str, float] = {}  # logprob-mode margins, labelled by threshold
        self._by_score: SortedList = SortedList()  # (score, text) of every margin
        self._last_threshold = calibrator.threshold

    @property
    def labelled(self) -> int:
        return len(self._labels) + len(self._scores)

    def add(self, annotations: Iterable[Annotation | tuple[str, int | None, float | None]]) -> dict[str, float]:
        """Take new annotations (records, or (text, label, score) rows as the store reads them);
        returns the rewards of every message whose reward may change."""
        proposed: dict[str, float] = {}
        scored: dict[str, float] = {}
        for text, label, score, *_ in annotations:
            if score is not None:
                scored[text] = score
            elif label is not None:
                self._labels[text] = label
                proposed[text] = float(label)
            else:
                proposed[text] = 0.0  # unparsable: asked, answered, pays nothing
        self._set_scores(scored)
        proposed |= self.rethreshold()
        threshold = self._last_threshold
        for text in scored:
            proposed[text] = float(self._scores[text] > threshold)
        return proposed

    def rethreshold(self) -> dict[str, float]:
        """Rewards of the messages whose label flipped since the threshold last moved."""
        old, new = self._last_threshold, self.calibrator.threshold
        self._last_threshold = new
        if new == old:
            return {}
        low, high = min(old, new), max(old, new)
        # labels are score > threshold: the scores in (low, high] are on the other side now
        flipped = self._by_score.irange((low, chr(0x10FFFF)), (high, chr(0x10FFFF)), inclusive=(False, True))
        return {text: float(score > new) for score, text in flipped}

    def _set_scores(self, scores: dict[str, float]) -> None:
        """Add (or replace) margins; a big batch (a restart's million) is sorted in once."""
        for text in scores:
            previous = self._scores.get(text)
            if previous is not None:  # answered again (an import): the old margin goes
                self._by_score.remove((previous, text))
                self.calibrator.remove(previous)
        self._scores.update(scores)
        self._by_score.update((score, text) for text, score in scores.items())
        self.calibrator.update(scores.values())

    def labels(self) -> dict[str, int]:
        """Current label (1/0) of every parsed annotation: the classifier's training set."""
        threshold = self.calibrator.threshold
        labels = self._labels | {text: int(score > threshold) for text, score in self._scores.items()}
        return labels | dict.fromkeys(self.never_helpful & labels.keys(), 0)

    def reward(self, text: str) -> float | None:
        """Current reward of a message, ``None`` if the LLM has not labelled it."""
        if text in self._scores:
            return float(self._scores[text] > self.calibrator.threshold)
        if text in self._labels:
            return float(self._labels[text])
        return None

    def score(self, text: str) -> float | None:
        return self._scores.get(text)
