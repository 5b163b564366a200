"""Gymnasium wrappers that add ONI's online LLM-derived intrinsic rewards to NetHack envs.

``OniRewardWrapper`` and ``RewardClient`` load on first use (gymnasium, httpx), so code that
needs only the message normalisation (the reward server) imports none of them.
"""

from __future__ import annotations

from typing import Any

from oni_wrappers.messages import MessageDecoder, decode_message_bytes, normalize_message
from oni_wrappers.reward import count_scaled_intrinsic
from oni_wrappers.step_info import OniStepInfo

_LAZY = {
    "OniRewardWrapper": "oni_wrappers.wrapper",
    "MissingMessageError": "oni_wrappers.wrapper",
    "RewardClient": "oni_wrappers.client",
    "ClientStats": "oni_wrappers.client",
}

__all__ = [
    "ClientStats",
    "MessageDecoder",
    "MissingMessageError",
    "OniRewardWrapper",
    "OniStepInfo",
    "RewardClient",
    "count_scaled_intrinsic",
    "decode_message_bytes",
    "normalize_message",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
