"""ONI-ranking ("online Motif"): a Bradley–Terry reward model fit to LLM pairwise preferences.

The LLM is shown two messages and asked which shows more progress toward the goal. Each answer
is a preference p = P(first is better): 1 or 0 from a parsed answer, 0.5 for a tie, sigmoid of
the "1"-vs-"2" log-odds in logprob mode. The model is r(msg) = w · φ(msg) over the hashed
n-gram features, fit by logistic regression on φ(a) − φ(b) with soft targets (each pair is a
positive row weighted p and a negative row weighted 1 − p), so it ranks unseen messages too.

Served rewards are r normalised by the mean and standard deviation over all messages seen,
then thresholded: z if z > ``rank_threshold`` else 0. Most messages pay nothing, the best pay
positive — as the reference does with its Motif reward.

:class:`PairSampler` chooses what to ask: each message gets ``pairs_per_message`` comparisons,
half against recent messages (what the current policy sees) and half against any message seen.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from reward_server.models.features import FeatureCache
from reward_server.models.linear import FitReport, LinearRewardModel
from reward_server.storage.store import StoredPreference


@dataclass(frozen=True)
class Preference:
    first: str
    second: str
    p_first: float  # P(first shows more progress); 0.5 is a tie


def sigmoid(log_odds: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, log_odds))))


def debiased_preferences(stored: list[StoredPreference]) -> list[Preference]:
    """P(first better) of every parsed pairwise answer, with the judge's position bias removed.

    Pairs are asked in random order, so an unbiased judge's "1"-vs-"2" log-odds average 0.
    Small models are far from that (SmolLM2-135M says "1" to every pair, log-odds +1 to +2),
    so their mean is subtracted before the sigmoid: what is left is how much *more* than
    usual the judge prefers the first message. Ties (score 0) and generate-mode verdicts
    (labels) are kept as given; unparsable answers are dropped.
    """
    scores = [p.score for p in stored if p.score is not None and p.label is None and p.score != 0.0]
    bias = float(np.mean(scores)) if scores else 0.0
    out = []
    for p in stored:
        if p.score is not None:
            p_first = sigmoid(p.score - bias) if p.score != 0.0 else 0.5
        elif p.label is not None:
            p_first = float(p.label)
        else:
            continue
        out.append(Preference(p.first, p.second, p_first))
    return out


class BradleyTerryModel(LinearRewardModel):
    """r(msg) = w · φ(msg), fit to preferences; the reward is r normalised over every message
    seen (z), paid where z exceeds ``rank_threshold``."""

    name = "ranking"

    def __init__(self, features: FeatureCache, rank_threshold: float = 0.5, c: float = 10.0) -> None:
        super().__init__(features)
        self.rank_threshold = rank_threshold
        self.c = c

    def fit(self, preferences: Sequence[Preference]) -> FitReport | None:
        """Refit on every preference so far; ``None`` when none says anything (all ties)."""
        started = time.perf_counter()
        informative = [p for p in preferences if p.first != p.second]
        if not any(p.p_first != 0.5 for p in informative):
            return None
        self.features.add([p.first for p in informative] + [p.second for p in informative])
        diff = self.features.rows([p.first for p in informative]) - self.features.rows(
            [p.second for p in informative]
        )
        targets = np.array([p.p_first for p in informative])
        # soft targets: every pair twice, once as "first wins" (weight p), once as "second wins"
        x = sp.vstack([diff, diff], format="csr")
        y = np.concatenate([np.ones(len(targets)), np.zeros(len(targets))])
        weights = np.concatenate([targets, 1.0 - targets])
        keep = weights > 0
        classifier = LogisticRegression(C=self.c, fit_intercept=False, solver="liblinear", max_iter=1000)
        classifier.fit(x[keep], y[keep], sample_weight=weights[keep])
        w = classifier.coef_.ravel().copy()
        raw = np.asarray(self.features.matrix() @ w).ravel()
        self.params = {"w": w, "mean": float(raw.mean()), "std": float(raw.std()) or 1.0}
        decided = targets != 0.5
        agreement = (diff[decided] @ w > 0) == (targets[decided] > 0.5)
        self.version += 1
        self.report = FitReport(
            version=self.version,
            examples=len(informative),
            train_accuracy=float(np.mean(agreement)),
            heldout_accuracy=None,
            positive_share=float(np.mean(self._reward_of(self.features.matrix()) > 0)),
            seconds=time.perf_counter() - started,
        )
        return self.report

    def scores(self, texts: list[str]) -> list[float] | None:
        """Normalised Bradley–Terry scores z (before the threshold)."""
        if not self.fitted or not texts:
            return None
        return self._z(self.features.encode(texts)).tolist()

    def _z(self, x: sp.csr_matrix) -> np.ndarray:
        raw = np.asarray(x @ self.params["w"]).ravel()
        return (raw - self.params["mean"]) / self.params["std"]

    def _reward_of(self, x: object) -> np.ndarray:
        z = self._z(x)  # type: ignore[arg-type]
        return np.where(z > self.rank_threshold, np.round(z, 4), 0.0)


class PairSampler:
    """Pairs to ask the LLM about: ``pairs_per_message`` for each message, in random order.

    Partners are drawn half from the ``recent`` most recent messages and half from all seen,
    never the message itself nor twice the same partner; the order within a pair is random so a model's position bias
    becomes noise instead of a systematic reward for whatever is asked about first.
    """

    def __init__(self, pairs_per_message: int = 2, recent: int = 512, seed: int | None = None) -> None:
        self.pairs_per_message = pairs_per_message
        self.recent = recent
        self._seen: list[str] = []
        self._known: set[str] = set()
        self._random = random.Random(seed)

    def observe(self, texts: Sequence[str]) -> None:
        for text in texts:
            if text not in self._known:
                self._known.add(text)
                self._seen.append(text)

    def pairs_for(self, texts: Sequence[str], missing: dict[str, int] | None = None) -> list[tuple[str, str]]:
        """New pairs for ``texts`` (``missing[text]`` of them each, default ``pairs_per_message``)."""
        pairs: list[tuple[str, str]] = []
        for text in texts:
            wanted = self.pairs_per_message if missing is None else missing.get(text, 0)
            partners = {text}
            for i in range(wanted):
                pool = self._seen[-self.recent :] if i % 2 == 0 else self._seen
                partner = self._partner(partners, pool)
                if partner is None:
                    break
                partners.add(partner)
                pair = (text, partner) if self._random.random() < 0.5 else (partner, text)
                pairs.append(pair)
        return pairs

    def _partner(self, taken: set[str], pool: list[str]) -> str | None:
        """A message of ``pool`` not in ``taken`` (a few random draws, then a scan)."""
        for _ in range(8):
            partner = self._random.choice(pool) if pool else None
            if partner is not None and partner not in taken:
                return partner
        free = [m for m in pool[-4 * len(taken) - 8 :] if m not in taken] or [m for m in pool if m not in taken]
        return self._random.choice(free) if free else None
