"""Whether a checkpoint may be continued under a new config.

A resumed run must go on learning what it learned: the same task and reward, the same weighting of
the two, the same agent and PPO, the same question put to the LLM and the same way of turning its
answers into rewards. Changing any of those mid-run would make one curve of two experiments (or
fail later on mismatched weights with a less helpful error), so it is refused, naming each field.
What only changes how fast or where the run goes (frames, workers, envs per worker, collection,
device, threads, seed, logging, the server's transport and queue) may change, except workers and
envs per worker under a cross-episode decay: each env counts its own earlier episodes, so how
many envs share the frames changes how fast the reward decays.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from oni_rl.config import PolicyConfig, PPOConfig

log = logging.getLogger(__name__)

#: fields whose value shapes what is learned from the extrinsic reward alone
LEARNING_FIELDS: tuple[str, ...] = (
    "task", "reward", "extrinsic_coef", "max_episode_steps", "rollout",
    *(f"ppo.{name}" for name in PPOConfig.model_fields),
    *(f"policy.{name}" for name in PolicyConfig.model_fields),
)
#: fields that shape the intrinsic reward: compared unless both runs train without one
INTRINSIC_FIELDS: tuple[str, ...] = (
    "intrinsic_coef", "count_exponent", "cross_episode_exponent",
    *(f"server.{name}" for name in (
        "llm", "goal", "goal_example", "goal_counterexample", "label_mode", "prompt_style", "label_words", "decompose", "calibration", "positive_share",
        "threshold", "decision_threshold", "rank_cut", "rank_threshold", "bow_threshold", "pairs_per_message",
        "preferences", "offline", "llm_endpoint",
    )),
)

#: values a record written before the field existed was trained under
OLDER_DEFAULTS: dict[str, Any] = {"cross_episode_exponent": 0.0}


class IncompatibleResume(ValueError):
    """A checkpoint's config differs from the new run's in what is learned."""


def is_record(saved: object) -> bool:
    """Whether ``saved`` is a config record (``TrainConfig.record``), not an older checkpoint's
    flat dict of strings."""
    return isinstance(saved, Mapping) and isinstance(saved.get("ppo"), Mapping)


def differences(saved: Mapping[str, Any], now: Mapping[str, Any],
                fields: Iterable[str]) -> list[tuple[str, Any, Any]]:
    """``(field, saved value, new value)`` for each dotted field the two records both hold (a field
    added since holding its :data:`OLDER_DEFAULTS` value) and disagree on."""
    found = []
    for path in fields:
        a, b = (_get(record, path, OLDER_DEFAULTS.get(path, _MISSING)) for record in (saved, now))
        if a is not _MISSING and b is not _MISSING and a != b:
            found.append((path, a, b))
    return found


def check_resumable(saved: object, now: Mapping[str, Any], where: object) -> None:
    """Raise :class:`IncompatibleResume` if the checkpoint at ``where`` (its config record
    ``saved``) was trained under a config that ``now`` changes in what is learned."""
    if not is_record(saved):
        log.warning("%s holds no config record (an older checkpoint): resuming without checking that it "
                    "was trained under this config", where)
        return
    assert isinstance(saved, Mapping)
    fields = list(LEARNING_FIELDS)
    if not (saved.get("reward") == now.get("reward") == "none"):
        fields += INTRINSIC_FIELDS
        if any(_get(record, "cross_episode_exponent", 0.0) for record in (saved, now)):
            fields += ["workers", "envs_per_worker"]
    found = differences(saved, now, fields)
    if found:
        lines = "\n".join(f"  {_flag(path)}: {a!r} in the checkpoint, {b!r} now" for path, a, b in found)
        raise IncompatibleResume(
            f"cannot resume {where}: it was trained under another config, and these change what is learned:\n"
            f"{lines}\nResume with the checkpoint's values, or start a new run (another --run-dir).")


def _flag(path: str) -> str:
    return "--" + path.replace("_", "-")


_MISSING = object()


def _get(record: Mapping[str, Any], path: str, missing: Any = _MISSING) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return missing
        value = value[part]
    return value
