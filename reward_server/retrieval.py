"""ONI-retrieval: the reward of a message is its LLM label (1 helpful, 0 not).

Unlabelled and unparsable messages pay 0. In logprob mode a message's label is its log-odds
score against the calibrated threshold; when new annotations move the threshold, messages
labelled earlier may flip, so :meth:`add` returns the proposed rewards of every scored
message and the table publishes only the rows that actually changed.
"""

from __future__ import annotations

from collections.abc import Iterable

from reward_server.calibration import ThresholdCalibrator
from reward_server.store import Annotation


class RetrievalModel:
    def __init__(self, calibrator: ThresholdCalibrator) -> None:
        self.calibrator = calibrator
        self._labels: dict[str, int] = {}  # generate-mode labels, final as given
        self._scores: dict[str, float] = {}  # logprob-mode margins, labelled by threshold
        self._last_threshold: float | None = None

    @property
    def labelled(self) -> int:
        return len(self._labels) + len(self._scores)

    def add(self, annotations: Iterable[Annotation]) -> dict[str, float]:
        """Take new annotations; returns the rewards of every message whose reward may change."""
        proposed: dict[str, float] = {}
        for annotation in annotations:
            if annotation.score is not None:
                self._scores[annotation.text] = annotation.score
                self.calibrator.add(annotation.score)
            elif annotation.label is not None:
                self._labels[annotation.text] = annotation.label
                proposed[annotation.text] = float(annotation.label)
            else:
                proposed[annotation.text] = 0.0  # unparsable: asked, answered, pays nothing
        threshold = self.calibrator.threshold
        if threshold != self._last_threshold:
            self._last_threshold = threshold
            scored = self._scores.keys()  # the threshold moved: any scored message may flip
        else:
            scored = [a.text for a in annotations if a.score is not None]  # type: ignore[union-attr]
        for text in scored:
            proposed[text] = float(self._scores[text] > threshold)
        return proposed

    def labels(self) -> dict[str, int]:
        """Current label (1/0) of every parsed annotation: the classifier's training set."""
        threshold = self.calibrator.threshold
        return self._labels | {text: int(score > threshold) for text, score in self._scores.items()}

    def reward(self, text: str) -> float | None:
        """Current reward of a message, ``None`` if the LLM has not labelled it."""
        if text in self._scores:
            return float(self._scores[text] > self.calibrator.threshold)
        if text in self._labels:
            return float(self._labels[text])
        return None

    def score(self, text: str) -> float | None:
        return self._scores.get(text)
