"""What the learned reward models share: a linear head over the cached hashed n-gram features,
its rewards for every message seen or any message asked about, and its checkpoint.

A subclass fits its parameters (``self.params``) and says how they turn features into rewards
(:meth:`LinearRewardModel._reward_of`); this class serves the table, arbitrary messages and
the checkpoint bytes the trainer stores.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from reward_server.models.features import FeatureCache


@dataclass(frozen=True)
class FitReport:
    """What one fit did; published in ``/v1/stats`` and as metrics."""

    version: int
    examples: int  # labels (classification) or preferences (ranking) trained on
    train_accuracy: float | None
    heldout_accuracy: float | None
    positive_share: float
    seconds: float


class LinearRewardModel:
    name = "linear"

    def __init__(self, features: FeatureCache) -> None:
        self.features = features
        self.version = 0
        self.report: FitReport | None = None
        #: the fitted parameters (arrays or floats), saved and restored as they are
        self.params: dict[str, np.ndarray | float] = {}

    @property
    def fitted(self) -> bool:
        return bool(self.params)

    def _reward_of(self, x: object) -> np.ndarray:
        """Rewards of the rows of a feature matrix (only called once fitted)."""
        raise NotImplementedError

    def table(self) -> np.ndarray:
        """Reward of every message seen, aligned with ``features.texts`` (one sparse product
        over the cached features); all 0 before the first fit."""
        if not self.fitted:
            return np.zeros(len(self.features))
        return self._reward_of(self.features.matrix()).astype(float)

    def rewards(self, texts: list[str]) -> list[float]:
        """Rewards of arbitrary messages (cached or not); all 0 before the first fit."""
        if not self.fitted or not texts:
            return [0.0] * len(texts)
        return self._reward_of(self.features.encode(texts)).astype(float).tolist()

    # ---------------------------------------------------------------------- checkpoints
    def state(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, version=self.version, **self.params)  # type: ignore[arg-type]
        return buffer.getvalue()

    def restore(self, state: bytes) -> None:
        data = np.load(io.BytesIO(state))
        self.version = int(data["version"])
        self.params = {name: data[name] if data[name].ndim else float(data[name]) for name in data.files
                       if name != "version"}
