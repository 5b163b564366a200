"""ONI-ranking ("online Motif"): a Bradley–Terry reward model fit to LLM pairwise preferences.

The LLM is shown two messages and asked which shows more progress toward the goal. Each answer
is a preference p = P(first is better): 1 or 0 from a parsed answer, 0.5 for a tie, sigmoid of
the "1"-vs-"2" log-odds in logprob mode. The model is r(msg) = w · φ(msg) over the hashed
n-gram features, fit by logistic regression on φ(a) − φ(b) with soft targets (each pair is a
positive row weighted p and a negative row weighted 1 − p), so it ranks unseen messages too.

Served rewards are r normalised by the mean and standard deviation over all messages seen (z),
paid above a cut. The cut follows the evidence (``--rank-cut examples``, the default): the
normalised scores of the labelled calibration messages (never trained on) are separated by
:func:`~reward_server.models.calibration.evidence_cut`, as retrieval's log-odds are, and a message
above it pays ``z - cut``. A fixed cut on z (``--rank-cut fixed``, ``--rank-threshold``; the
reference's Motif threshold) pays z above it; it pays a share of whatever arrives (a quota),
which on agent play is mostly junk.

:class:`~reward_server.models.pairs.PairSampler` chooses what to ask (or, from labels, which
pairs to derive).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from reward_server.models.base import ModelContext, RewardModel, Source
from reward_server.models.calibration import evidence_cut
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
    seen (z), paid above the cut set from ``calibration`` (or above ``rank_threshold`` without)."""

    name = "ranking"

    def __init__(self, features: FeatureCache, rank_threshold: float = 0.5, c: float = 10.0,
                 calibration: Sequence[tuple[str, int]] = ()) -> None:
        super().__init__(features)
        self.rank_threshold = rank_threshold
        self.c = c
        self.calibration = list(calibration)

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
        self.params |= self._cut()
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

    def _cut(self) -> dict[str, float]:
        """Where to cut z, and what a paid message's reward is measured from.

        With calibration messages: the evidence cut between their z scores (above every unhelpful
        one's, when none is labelled helpful: a goal written as text), paying ``z - cut`` (0 at the
        cut, growing with the score). Without: ``rank_threshold``, paying z.
        """
        helpful = [text for text, verdict in self.calibration if verdict]
        unhelpful = [text for text, verdict in self.calibration if not verdict]
        if not unhelpful:
            return {"cut": self.rank_threshold, "offset": 0.0}
        z = self._z(self.features.encode(helpful + unhelpful))
        cut = evidence_cut(z[: len(helpful)].tolist(), z[len(helpful) :].tolist())
        return {"cut": cut, "offset": cut}

    def _reward_of(self, x: object) -> np.ndarray:
        z = self._z(x)  # type: ignore[arg-type]
        cut = float(self.params.get("cut", self.rank_threshold))
        offset = float(self.params.get("offset", 0.0))
        return np.where(z > cut, np.round(z - offset, 4), 0.0)


class Ranking(RewardModel):
    """Online Motif: a Bradley–Terry model over preferences, from the LLM's answers about pairs
    (``--preferences pairwise``, the paper) or derived from its labels (``labels``: P(a > b) from
    the difference of the two messages' log-odds, each message asked once)."""

    name = "ranking"
    summary = "a Bradley-Terry model of the LLM's preferences between messages (online Motif)"

    def __init__(self, context: ModelContext) -> None:
        super().__init__(context)
        settings = context.settings
        self.pairwise = settings.preferences == "pairwise"
        calibration = context.calibration if settings.rank_cut == "examples" else ()
        self.learner = BradleyTerryModel(FeatureCache(max_rows=settings.feature_cache_rows),
                                         rank_threshold=settings.rank_threshold, calibration=calibration)
        self._answers: list[StoredPreference] = []  # the LLM's parsed pairwise answers
        self._derived: list[Preference] = []  # preferences derived from labels

    @property
    def source(self) -> Source:
        return "pairs" if self.pairwise else "labels"

    @property
    def selective(self) -> bool:
        return self.context.settings.rank_cut != "fixed"  # fixed: pays a share of what arrives (a quota)

    def serves_labels(self) -> bool:
        return not self.pairwise and super().serves_labels()

    def take_labels(self, texts: Sequence[str]) -> int:
        """Pairs for newly labelled messages, P(a > b) = sigmoid(s_a - s_b); partners are drawn
        among labelled messages, half recent, half any."""
        labelled = [text for text in texts if self._evidence(text) is not None]
        self.sampler.observe(labelled)
        derived = [Preference(a, b, sigmoid(self._evidence(a) - self._evidence(b)))  # type: ignore[operator]
                   for a, b in self.sampler.pairs_for(labelled)]
        self._derived.extend(derived)
        return len(derived)

    def take_preferences(self, preferences: Sequence[StoredPreference]) -> int:
        parsed = [p for p in preferences if p.label is not None or p.score is not None]
        self._answers.extend(parsed)
        return len(parsed)

    def training_data(self) -> list[Preference]:
        return debiased_preferences(self._answers) if self.pairwise else list(self._derived)

    @property
    def preference_count(self) -> int:
        return len(self._answers) if self.pairwise else len(self._derived)

    def checkpoint_name(self, question: str) -> str:
        return f"{'ranking' if self.pairwise else 'ranking-labels'}|{question}"

    def _evidence(self, text: str) -> float | None:
        """A labelled message's log-odds of helpful; a generate-mode label counts as ±2."""
        score = self.labels.score(text)
        if score is not None:
            return score
        label = self.labels.reward(text)
        return None if label is None else 4.0 * label - 2.0
