"""What every reward model is to the server: one small interface, so the service never asks
which model it runs.

A reward model says what it learns from (``source``: the LLM's per-message labels, its
pairwise preferences, or nothing at all), what a message is worth before the LLM has said
anything about it, what to do with new answers, and — if it learns — which
:class:`~reward_server.models.trainer.LearnedModel` the background trainer refits. The service
owns the store, the queue, the LLM and the published table; the model owns the mapping from
answers to rewards.

Labels reach every model through :class:`~reward_server.models.labels.Labels` (the
LLM's label per message, cut at the calibrated log-odds): retrieval serves them as they are,
the learned models train on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from reward_server.models.labels import Labels
from reward_server.models.pairs import PairSampler
from reward_server.models.trainer import LearnedModel
from reward_server.storage.store import StoredPreference

#: what a reward model learns from: the LLM's label of each message, its answers about pairs of
#: messages, or nothing (the model needs no LLM)
Source = Literal["labels", "pairs", "none"]


@dataclass
class ModelContext:
    """What a reward model may use: the server's settings, the labels so far and the goal."""

    settings: Any  # the server's settings (ServerConfig); models read their own fields by name
    labels: Labels
    goal_text: str  # the goal as the LLM reads it ("I prefer agents that ...")
    #: (message, helpful?) pairs under the goal that no prompt shows: evidence for where to cut
    calibration: Sequence[tuple[str, int]] = field(default_factory=list)


class RewardModel:
    """Base of the registered reward models (see :mod:`reward_server.models.registry`).

    The defaults describe retrieval-like behaviour: messages pay 0 until labelled, labels are
    served as rewards, nothing is trained.
    """

    #: the ``--reward-model`` name
    name: ClassVar[str]
    #: one line for ``--help``
    summary: ClassVar[str]

    def __init__(self, context: ModelContext) -> None:
        self.context = context
        self.labels = context.labels
        #: refit in the background by the trainer; ``None`` for models that do not learn
        self.learner: LearnedModel[Any] | None = None
        #: the pairs to compare, for a model whose source is ``pairs``
        self.sampler = PairSampler(getattr(context.settings, "pairs_per_message", 2))

    @property
    def source(self) -> Source:
        return "labels"

    @property
    def selective(self) -> bool:
        """Whether the model means to pay a few messages (a judge's pick): then agents whose reports
        are mostly paid are farming, and the server warns (service/paid_watch.py). A quota
        (``--calibration quantile``) pays a share of whatever arrives by design."""
        return getattr(self.context.settings, "calibration", "examples") != "quantile"

    def unlabelled_rewards(self, texts: Sequence[str]) -> dict[str, float]:
        """Rewards of messages the LLM has said nothing about yet (published when first seen)."""
        return dict.fromkeys(texts, 0.0)

    def serves_labels(self) -> bool:
        """Whether a new label is published as the message's reward (retrieval always; a
        learned model until its first fit, then its own predictions)."""
        return self.learner is None or not self.learner.fitted

    def take_labels(self, texts: Sequence[str]) -> int:
        """Messages just labelled (already in :attr:`labels`); returns new training examples."""
        return len(texts)

    def take_preferences(self, preferences: Sequence[StoredPreference]) -> int:
        """Pairwise answers just parsed; returns new training examples."""
        return len(preferences)

    def training_data(self) -> Any:
        """What the learner fits on, read on each fit."""
        return self.labels.labels()

    def rewards(self, texts: Sequence[str]) -> list[float | None]:
        """Rewards of any messages for ``/v1/score`` (``None``: nothing known). A learned model's
        rewards come from its learner instead, on the trainer's thread."""
        return [self.labels.reward(text) for text in texts]

    def checkpoint_name(self, question: str) -> str:
        """The store key of this model's checkpoint for a question (goal, prompt, LLM, mode)."""
        return f"{self.name}|{question}"

    @property
    def preference_count(self) -> int:
        """Preferences the model learns from (``/v1/stats``); 0 for models without any."""
        return 0
