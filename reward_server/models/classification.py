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

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from reward_server.models.base import ModelContext, RewardModel
from reward_server.models.features import FeatureCache, message_family
from reward_server.models.linear import FitReport, LinearRewardModel

#: Labels the held-out estimate uses at most (a random subset beyond that).
HELDOUT_SAMPLE = 5000


class ClassificationModel(LinearRewardModel):
    """Logistic regression on the labels; the reward is 1 where the probability reaches
    ``decision_threshold``."""

    name = "classification"

    def __init__(self, features: FeatureCache, decision_threshold: float = 0.5, c: float = 4.0) -> None:
        super().__init__(features)
        self.decision_threshold = decision_threshold
        self.c = c

    def fit(self, labels: Mapping[str, int]) -> FitReport | None:
        """Refit on ``labels`` (message → 0/1). ``None`` while both classes are not present."""
        started = time.perf_counter()
        texts = list(labels)
        y = np.fromiter((labels[t] for t in texts), dtype=np.int64, count=len(texts))
        if len(np.unique(y)) < 2:
            return None
        self.features.add(texts)  # messages seen, for the table (normally cached already)
        x = self.features.rows(texts)
        sample = _subsample(len(texts), HELDOUT_SAMPLE)  # bounds the cost of the 5 extra fits
        heldout = heldout_balanced_accuracy(
            x[sample], y[sample], [message_family(texts[i]) for i in sample], self._classifier
        )
        classifier = self._classifier().fit(x, y)
        self.params = {"coef": classifier.coef_.ravel().copy(), "intercept": float(classifier.intercept_[0])}
        train_accuracy = float(np.mean(self._reward_of(x) == y))
        self.version += 1
        self.report = FitReport(
            version=self.version,
            examples=len(texts),
            train_accuracy=train_accuracy,
            heldout_accuracy=heldout,
            positive_share=float(np.mean(self._reward_of(self.features.matrix()))),
            seconds=time.perf_counter() - started,
        )
        return self.report

    def _classifier(self) -> LogisticRegression:
        return LogisticRegression(C=self.c, class_weight="balanced", solver="liblinear", max_iter=1000)

    def _reward_of(self, x: object) -> np.ndarray:
        probabilities = _sigmoid(x @ self.params["coef"] + self.params["intercept"])  # type: ignore[operator]
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


class Classification(RewardModel):
    """The classifier's prediction is the reward of every message seen, labelled or not; until
    its first fit, the labels themselves are served."""

    name = "classification"
    summary = "a classifier distilled from the labels rewards every message, labelled or not"

    def __init__(self, context: ModelContext) -> None:
        super().__init__(context)
        settings = context.settings
        self.learner = ClassificationModel(FeatureCache(max_rows=settings.feature_cache_rows),
                                           decision_threshold=settings.decision_threshold)
