"""Novelty: every message pays 1, whatever it says. No LLM is asked anything.

The ablation that tells whether the LLM's judgement does any work: the same r / N(msg)^β
scaling the wrapper applies to ONI's rewards, with r = 1 for every message, is a count-based
novelty bonus over messages. If an ONI arm does no better than this one, the labels add nothing
at that budget.
"""

from __future__ import annotations

from collections.abc import Sequence

from reward_server.models.base import RewardModel, Source


class Novelty(RewardModel):
    name = "novelty"
    summary = "every message pays 1 (a count-based novelty bonus; asks the LLM nothing)"

    @property
    def source(self) -> Source:
        return "none"

    @property
    def selective(self) -> bool:
        return False  # pays every message

    def unlabelled_rewards(self, texts: Sequence[str]) -> dict[str, float]:
        return dict.fromkeys(texts, 1.0)

    def rewards(self, texts: Sequence[str]) -> list[float | None]:
        return [1.0] * len(texts)
