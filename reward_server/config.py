"""Server settings: one validated object shared by the CLI, the app factory and tests."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from reward_server.models.calibration import CalibrationMode
from reward_server.judging.embedded_llm import DEFAULT_EMBEDDED_MODEL, EMBEDDED_PROVIDER, labelling_defaults
from reward_server.judging.prompts import GOALS, LabelMode, PromptStyle
from reward_server.judging.providers import OPENAI_COMPATIBLE, provider_of

logger = logging.getLogger(__name__)


class ServerConfig(BaseModel):
    """Everything that shapes a reward server. Defaults run the embedded LLM on this machine."""

    llm: str = Field(DEFAULT_EMBEDDED_MODEL, description="litellm model string")
    api_base: list[str] = Field(
        default_factory=list,
        description="base URL(s) of OpenAI-compatible servers; several: litellm's Router spreads calls and fails over",
    )
    api_key: str | None = None
    llm_endpoint: Literal["auto", "chat", "completion"] = Field(
        "auto", description="completion (/v1/completions, the prompt as plain text: list prompts, base models), "
        "chat, or auto: completion for the many-shot prompt on a server at --api-base, chat otherwise",
    )
    preflight: bool = Field(True, description="ask the LLM one question at start; exit if no call can succeed")
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
    calibration: CalibrationMode = Field(
        "examples", description="log-odds cut: examples (from the judge's scores of labelled calibration messages, "
        "positive-share a ceiling), quantile (a quota: the top positive-share of scores), fixed (--threshold)",
    )
    positive_share: float = Field(
        0.5, gt=0.0, lt=1.0,
        description="share of messages labelled helpful: at most (examples: a guard against a judge that says yes "
        "to everything), exactly (quantile, where 0.25 was the default)",
    )
    threshold: float = Field(0.0, description="fixed log-odds cut (and the cut until the examples are scored)")
    train_every: int = Field(64, ge=1, description="new labels/preferences that trigger a refit")
    train_interval: float = Field(5.0, gt=0.0, description="seconds after which unfitted examples trigger a refit")
    decision_threshold: float = Field(0.5, gt=0.0, lt=1.0, description="classifier probability that pays 1")
    rank_threshold: float = Field(0.5, description="ranking: normalised score above which a message pays")
    pairs_per_message: int = Field(2, ge=1, le=64, description="ranking: comparisons per message")
    preferences: Literal["auto", "pairwise", "labels"] = Field(
        "auto", description="ranking: where preferences come from: pairwise (the paper's question about two "
        "messages), labels (P(a > b) = sigmoid of the difference of the two messages' log-odds, each message "
        "asked once), auto: labels for the embedded models (their pairwise answers are at chance), pairwise otherwise",
    )
    llm_timeout: float = Field(60.0, gt=0.0)
    llm_max_tokens: int = Field(512, ge=1, description="generate mode: tokens an answer may use")
    llm_retries: int = Field(4, ge=0)
    breaker_failures: int = Field(5, ge=1, description="consecutive LLM failures that open the circuit")
    breaker_reset: float = Field(10.0, gt=0.0, description="seconds the circuit stays open before a probe")
    max_batch_messages: int = Field(4096, ge=1, description="messages per POST /v1/messages")
    max_message_chars: int = Field(1024, ge=1)
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    token: str | None = Field(None, description="bearer token required on every endpoint but /healthz")
    insecure_no_token: bool = Field(False, description="serve a non-loopback --host without a token")
    degraded_after: float = Field(
        60.0, gt=0.0, description="seconds the LLM circuit may stay open before /healthz reports degraded"
    )

    @field_validator("api_base", mode="before")
    @classmethod
    def _one_or_many_bases(cls, value: object) -> object:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    @field_validator("goal")
    @classmethod
    def _known_goal(cls, goal: str) -> str:
        if goal not in GOALS:
            raise ValueError(f"unknown goal {goal!r}; choose one of {', '.join(GOALS)}")
        return goal

    @model_validator(mode="after")
    def _resolve_model_defaults(self) -> ServerConfig:
        if self.llm.startswith("vllm/") and self.api_base:
            # vllm/ runs vLLM inside this process; with a server address the user means that server
            self.llm = "hosted_vllm/" + self.llm.removeprefix("vllm/")
            logger.info("--llm vllm/... with --api-base: using the server, as %s", self.llm)
        if self.llm_endpoint == "completion" and (
            not self.api_base or provider_of(self.llm) not in OPENAI_COMPATIBLE
        ):
            raise ValueError("--llm-endpoint completion needs an OpenAI-compatible server: "
                             "--llm hosted_vllm/<model> (or openai/<model>) with --api-base")
        if not self.token and not self.insecure_no_token and not _is_loopback(self.host):
            raise ValueError(f"--host {self.host} serves other machines: set --token (or ONI_TOKEN), "
                             "or pass --insecure-no-token to serve without one")
        if self.preferences == "auto":
            self.preferences = "labels" if self.llm.startswith(EMBEDDED_PROVIDER + "/") else "pairwise"
        style, decompose = labelling_defaults(self.llm)
        if self.prompt_style is None:
            self.prompt_style = style
        if self.decompose is None:
            self.decompose = decompose
        return self

    @property
    def endpoint(self) -> Literal["chat", "completion"]:
        """The LLM endpoint ``llm_endpoint`` resolves to (see reward_server.judging.llm_calls)."""
        if self.llm_endpoint != "auto":
            return self.llm_endpoint
        compatible = provider_of(self.llm) in OPENAI_COMPATIBLE
        if self.api_base and compatible and self.label_mode == "logprob" and self.prompt_style == "many-shot":
            return "completion"
        return "chat"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
