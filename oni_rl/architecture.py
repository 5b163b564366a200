"""The agent's architecture settings, alone in a module of their own so that a trainer other than
oni's (Sample Factory, in its own environment: ``oni_rl.sample_factory``) can build the same
network without oni's settings machinery (pydantic-settings, the reward server's config)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PolicyConfig(BaseModel):
    """The agent's architecture (``oni_rl.encoder``, ``oni_rl.policy``): a checkpoint only loads into
    the same one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    glyph_dim: int = Field(16, ge=1, description="glyph embedding size")
    conv_channels: int = Field(16, ge=1, description="channels of the map and crop CNNs")
    crop_size: int = Field(9, ge=1, description="side of the crop around the hero")
    stats_dim: int = Field(64, ge=1, description="width of the blstats MLP")
    message_dim: int = Field(64, ge=1, description="channels of the message CNN")
    hidden_size: int = Field(256, ge=1, description="LSTM size (shorthand --hidden-size)")
