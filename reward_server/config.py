"""Server settings: one validated object shared by the CLI, the app factory and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from reward_server.calibration import CalibrationMode
from reward_server.embedded_llm import DEFAULT_EMBEDDED_MODEL, labelling_defaults
from reward_server.prompts import GOALS, LabelMode, PromptStyle


class ServerConfig(BaseModel):
    """Everything that shapes a reward server. Defaults run the embedded LLM on this machine."""

    llm: str = Field(DEFAULT_EMBEDDED_MODEL, description="litellm model string")
    api_base: str | None = Field(None, description="base URL of an OpenAI-compatible server")
    api_key: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=0, le=65535)
    store: Path = Path("oni-data/oni.sqlite")
    reward_model: Literal["retrieval", "classification", "ranking"] = "retrieval"
    goal: str = "default"
    label_mode: LabelMode = "logprob"
    prompt_style: PromptStyle | None = Field(
        None, description="logprob prompt; None: the style measured best for the model (many-shot for others)"
    )
    label_words: Literal["yes-no", "foo-bar", "one-zero"] = "yes-no"
    decompose: bool | None = Field(
        None, description="judge each message of an NLE line alone and keep the best; None: as measured best for the model"
    )
    batch_size: int = Field(32, ge=1, le=10_000, description="annotations committed per batch")
    concurrency: int = Field(4, ge=1, le=1024, description="LLM requests in flight")
    max_queue: int = Field(1_000_000, ge=1, description="messages held in memory for the LLM; more wait in the store")
    calibration: CalibrationMode = "quantile"
    positive_share: float = Field(0.25, gt=0.0, lt=1.0)
    threshold: float = Field(0.0, description="fixed log-odds threshold (and quantile fallback)")
    train_every: int = Field(64, ge=1, description="new labels/preferences that trigger a refit")
    train_interval: float = Field(5.0, gt=0.0, description="seconds after which unfitted examples trigger a refit")
    decision_threshold: float = Field(0.5, gt=0.0, lt=1.0, description="classifier probability that pays 1")
    rank_threshold: float = Field(0.5, description="ranking: normalised score above which a message pays")
    pairs_per_message: int = Field(2, ge=1, le=64, description="ranking: comparisons asked per message")
    llm_timeout: float = Field(60.0, gt=0.0)
    llm_retries: int = Field(4, ge=0)
    breaker_failures: int = Field(5, ge=1, description="consecutive LLM failures that open the circuit")
    breaker_reset: float = Field(10.0, gt=0.0, description="seconds the circuit stays open before a probe")
    max_batch_messages: int = Field(4096, ge=1, description="messages per POST /v1/messages")
    max_message_chars: int = Field(1024, ge=1)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    token: str | None = Field(None, description="bearer token required on every endpoint but /healthz")

    @field_validator("goal")
    @classmethod
    def _known_goal(cls, goal: str) -> str:
        if goal not in GOALS:
            raise ValueError(f"unknown goal {goal!r}; choose one of {', '.join(GOALS)}")
        return goal

    @model_validator(mode="after")
    def _resolve_model_defaults(self) -> ServerConfig:
        style, decompose = labelling_defaults(self.llm)
        if self.prompt_style is None:
            self.prompt_style = style
        if self.decompose is None:
            self.decompose = decompose
        return self
