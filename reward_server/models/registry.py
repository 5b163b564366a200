"""The reward models a server can run, by ``--reward-model`` name.

Each model is one module with one :class:`~reward_server.models.base.RewardModel` subclass; it
is listed here once, and the server's choices, its ``--help`` text and the trainer's choices
are read from this table. The service never branches on a model's name.
"""

from __future__ import annotations

from reward_server.models.base import ModelContext, RewardModel
from reward_server.models.classification import Classification
from reward_server.models.ellm_bow import EllmBow
from reward_server.models.novelty import Novelty
from reward_server.models.ranking import Ranking
from reward_server.models.retrieval import Retrieval

REWARD_MODELS: dict[str, type[RewardModel]] = {
    model.name: model for model in (Retrieval, Classification, Ranking, Novelty, EllmBow)
}


def build_reward_model(name: str, context: ModelContext) -> RewardModel:
    try:
        model = REWARD_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown reward model {name!r}; choose one of {', '.join(REWARD_MODELS)}") from None
    return model(context)


def describe_models() -> str:
    """``name: summary`` of every model, for help texts."""
    return "; ".join(f"{name}: {model.summary}" for name, model in REWARD_MODELS.items())
