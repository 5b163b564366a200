"""Gymnasium wrappers that add ONI's online LLM-derived intrinsic rewards to NetHack envs."""

from oni_wrappers.client import ClientStats, RewardClient
from oni_wrappers.messages import MessageDecoder, decode_message_bytes, normalize_message
from oni_wrappers.reward import count_scaled_intrinsic, mix_rewards
from oni_wrappers.wrapper import MissingMessageError, OniRewardWrapper

__all__ = [
    "ClientStats",
    "MessageDecoder",
    "MissingMessageError",
    "OniRewardWrapper",
    "RewardClient",
    "count_scaled_intrinsic",
    "decode_message_bytes",
    "mix_rewards",
    "normalize_message",
]
