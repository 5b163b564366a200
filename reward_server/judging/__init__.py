"""Asking the LLM: prompts, the judge (through litellm, the one door to it in ``llm_calls``),
parsing answers, decomposing NLE lines, the circuit breaker, the embedded models, and the
annotation queue that feeds the judge.

May import: storage-free, model-free: only its own modules (and litellm, in ``llm_calls`` and
the embedded provider). The reward models never see a prompt, and the judge never sees a model.
Light to import: the heavy modules (litellm) load only when ``LLMJudge`` is first asked for.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "LLMJudge": "reward_server.judging.judge",
    "JudgeConfig": "reward_server.judging.judge",
    "Judgement": "reward_server.judging.judge",
    "Annotator": "reward_server.judging.annotator",
}
__all__ = ["Annotator", "JudgeConfig", "Judgement", "LLMJudge"]


def __getattr__(name: str) -> Any:
    """``from reward_server.judging import LLMJudge`` imports litellm then, not at package import
    (config reads the prompts and the embedded-model registry without it)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
