"""ONI-classification: a classifier distilled from the LLM's labels, rewarding unseen messages.

The LLM labels each distinct message once; a logistic-regression head over hashed character
n-grams (:mod:`reward_server.models.features`) is refit on all labels so far, and its prediction is
the reward of *every* message seen — labelled or not. That is the paper's point: the agent is
rewarded for "You kill the gnome lord!" before the LLM has been asked about it, and a noisy
label on one message is smoothed by its relatives.

Positives are rare (a quarter or less), so classes are balanced by weight. Each fit first measures
accuracy on message *families* (see :func:`message_family`) the classifier never saw, by
grouped 5-fold cross-validation, then refits on everything for serving.

All methods run on the trainer's thread; the event loop only reads the plain attributes.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from reward_server.models.features import FeatureCache, message_family


@dataclass(frozen=True)
class FitReport:
    """What one fit did; published in ``/v1/stats`` and as metrics."""

    version: int
    examples: int  # labels (classification) or preferences (ranking) trained on
    train_accuracy: float | None
    heldout_accuracy: float | None
    positive_share: float
    seconds: float


#: Labels the held-out estimate uses at most (a random subset beyond that).
HELDOUT_SAMPLE = 5000


class ClassificationModel:
    name = "classification"

    def __init__(self, features: FeatureCache, decision_threshold: float = 0.5, c: float = 4.0) -> None:
        self.features = features
        self.decision_threshold = decision_threshold
        self.c = c
        self.version = 0
        self.report: FitReport | None = None
        self._coef: np.ndarray | None = None
        self._intercept = 0.0

    @property
    def fitted(self) -> bool:
        return self._coef is not None

    def fit(self, labels: Mapping[str, int]) -> FitReport | None:
        """Refit on ``labels`` (message → 0/1). ``None`` while both classes are not present."""
        started = time.perf_counter()
        texts = list(labels)
        y = np.fromiter((labels[t] for t in texts), dtype=np.int64, count=len(texts))
        if len(np.unique(y)) < 2:
            return None
        self.features.add(texts)
        x = self.features.rows(texts)
        sample = _subsample(len(texts), HELDOUT_SAMPLE)  # bounds the cost of the 5 extra fits
        heldout = heldout_balanced_accuracy(
            x[sample], y[sample], [message_family(texts[i]) for i in sample], self._classifier
        )
        classifier = self._classifier().fit(x, y)
        self._coef = classifier.coef_.ravel().copy()
        self._intercept = float(classifier.intercept_[0])
        train_accuracy = float(np.mean(self._labels_of(x) == y))
        self.version += 1
        self.report = FitReport(
            version=self.version,
            examples=len(texts),
            train_accuracy=train_accuracy,
            heldout_accuracy=heldout,
            positive_share=float(np.mean(self._labels_of(self.features.matrix()))),
            seconds=time.perf_counter() - started,
        )
        return self.report

    def table(self) -> np.ndarray:
        """Reward of every message seen, aligned with ``features.texts`` (one sparse product
        over the cached features)."""
        if not self.fitted:
            return np.zeros(len(self.features))
        return self._labels_of(self.features.matrix()).astype(float)

    def rewards(self, texts: list[str]) -> list[float]:
        """Rewards of arbitrary messages (cached or not); all 0 before the first fit."""
        if not self.fitted or not texts:
            return [0.0] * len(texts)
        return self._labels_of(self.features.encode(texts)).astype(float).tolist()

    def probabilities(self, texts: list[str]) -> list[float] | None:
        if not self.fitted or not texts:
            return None
        return _sigmoid(self.features.encode(texts) @ self._coef + self._intercept).tolist()

    # ---------------------------------------------------------------------- checkpoints
    def state(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, coef=self._coef, intercept=self._intercept, version=self.version)
        return buffer.getvalue()

    def restore(self, state: bytes) -> None:
        data = np.load(io.BytesIO(state))
        self._coef = data["coef"]
        self._intercept = float(data["intercept"])
        self.version = int(data["version"])

    # ------------------------------------------------------------------------- helpers
    def _classifier(self) -> LogisticRegression:
        return LogisticRegression(C=self.c, class_weight="balanced", solver="liblinear", max_iter=1000)

    def _labels_of(self, x: object) -> np.ndarray:
        probabilities = _sigmoid(x @ self._coef + self._intercept)  # type: ignore[operator]
        return (probabilities >= self.decision_threshold).astype(np.int64)


def _subsample(n: int, limit: int) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size=limit, replace=False))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z)))


def heldout_balanced_accuracy(
    x: Any, y: np.ndarray, groups: list[str], make: Callable[[], Any], folds: int = 5
) -> float | None:
    """Balanced accuracy on message families never seen in training (grouped k-fold).

    Every message of a family is predicted by a classifier fit without that family; a
    constant predictor scores 0.5. ``None`` when there are too few families or one class.
    """
    if len(set(groups)) < folds or len(np.unique(y)) < 2:
        return None
    predicted = np.empty_like(y)
    for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
        if len(np.unique(y[train])) < 2:
            predicted[test] = y[train][0]
            continue
        predicted[test] = make().fit(x[train], y[train]).predict(x[test])
    return float(np.mean([np.mean(predicted[y == c] == c) for c in (0, 1)]))
