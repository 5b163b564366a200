"""``info["oni"]``: what the wrapper reports about each step, and the cheapest way to build it.

Each step gets a fresh dict (a caller may keep the infos it was given). In CPython a 7-key dict
literal inserts its keys one by one, while ``dict.copy()`` of a dict with the same keys clones
the key table in one go; most steps pay no reward and many show no message, so the wrapper
copies the dict of such a *quiet* step and stores only the fields that differ (two on a step
with an unpaid message); counted under ``perf stat``, the copy retires fewer instructions per
NetHack step than the literal did (docs/results.md). The client keeps the quiet dict current
with its table version and staleness (:func:`quiet_step_info`), so the step reads neither.
"""

from __future__ import annotations

from typing import TypedDict


class OniStepInfo(TypedDict):
    """``info["oni"]`` of one step (a plain dict at run time)."""

    message: str  # the decoded game message, "" when there is none
    extrinsic: float  # the env's own reward as the env returned it (0.0 when it is zero)
    intrinsic: float  # the table's reward for the message, before scaling (0.0: none, or not labelled yet)
    intrinsic_paid: float  # the intrinsic term in this step's reward: coefficient, count scaling and cross-episode decay applied
    episode_count: int  # how often the message was seen this episode, this step included (0: no message)
    table_version: int  # version of the reward table the step was paid from
    stale: bool  # True when the table has not been synced with the server for a while


def quiet_step_info(table_version: int = 0, stale: bool = False) -> OniStepInfo:
    """The info of a step with no message and no reward, at this table version and staleness."""
    return OniStepInfo(message="", extrinsic=0.0, intrinsic=0.0, intrinsic_paid=0.0, episode_count=0,
                       table_version=table_version, stale=stale)
