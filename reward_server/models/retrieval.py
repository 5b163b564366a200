"""ONI-retrieval: the reward of a message is its LLM label (1 helpful, 0 not).

The paper's simplest model: each distinct message is asked about once, and its label (the
log-odds cut at the calibrated threshold, see :mod:`reward_server.models.calibration`) is served
as it is. Unlabelled and unparsable messages pay 0.
"""

from __future__ import annotations

from reward_server.models.base import RewardModel


class Retrieval(RewardModel):
    name = "retrieval"
    summary = "the LLM's label of each message is its reward"
