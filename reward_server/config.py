"""Server settings, each declared once: the ``--help`` text, the command line (``--kebab-case``),
the ``ONI_*`` environment variables and the validation all come from these fields
(pydantic-settings). The judge's own settings are derived from them by name
(``reward_server.service.judge_config``). A new option is one field here.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reward_server.judging.embedded_llm import DEFAULT_EMBEDDED_MODEL, EMBEDDED_PROVIDER, labelling_defaults
from reward_server.judging.goals import GOALS, Goal, check_goal
from reward_server.judging.prompts import LabelMode, PromptStyle, labelled_helpful
from reward_server.judging.providers import OPENAI_COMPATIBLE, provider_of
from reward_server.models.calibration import CalibrationMode
from reward_server.models.registry import REWARD_MODELS, describe_models

#: the ``--reward-model`` choices, read from the registry
RewardModelName = Literal[tuple(REWARD_MODELS)]  # type: ignore[valid-type]

logger = logging.getLogger(__name__)


class ServerConfig(BaseSettings):
    """Reward server for ONI: collects NetHack messages from OniRewardWrappers, labels them with an LLM
    (through litellm), stores every answer and serves the reward table. Defaults run the embedded LLM
    on this machine. 'python -m reward_server export|import FILE --store DB' moves stored answers as
    JSON Lines. Every option can also be set as ONI_<OPTION> in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="ONI_", cli_prog_name="python -m reward_server", cli_kebab_case=True, cli_implicit_flags=True,
        cli_hide_none_type=True, cli_avoid_json=True, validate_default=True,
        # a validation error must not echo the inputs: they hold the token and the API key
        hide_input_in_errors=True,
    )

    # ------------------------------------------------------------------------------ the LLM
    llm: str = Field(DEFAULT_EMBEDDED_MODEL, description=(
        "litellm model string, e.g. hosted_vllm/meta-llama/Llama-3.1-8B with --api-base; the default is the "
        "embedded CPU model"))
    api_base: list[str] = Field(default_factory=list, description=(
        "base URL of an OpenAI-compatible server, e.g. http://gpu-host:8000/v1; repeat the flag for several: "
        "litellm's Router spreads the calls and fails over when one is down"))
    api_key: SecretStr | None = Field(None, description="API key of the model server (env ONI_LLM_API_KEY)")
    llm_endpoint: Literal["auto", "chat", "completion"] = Field("auto", description=(
        "completion: the server's /v1/completions with the prompt as plain text (list prompts, base models); "
        "chat: /v1/chat/completions; auto: completion for the many-shot prompt on a server at --api-base"))
    preflight: bool = Field(True, description=(
        "ask the LLM one question at start and exit with a hint if no call can succeed (missing provider module, "
        "bad credentials, unknown model, nothing at --api-base)"))
    llm_timeout: float = Field(60.0, gt=0.0, description="seconds one LLM call may take")
    llm_retries: int = Field(4, ge=0, description="retries per LLM call (exponential backoff with jitter)")
    llm_max_tokens: int = Field(512, ge=1, description="generate mode: tokens an answer may use")
    breaker_failures: int = Field(5, ge=1, description="consecutive LLM failures that open the circuit breaker")
    breaker_reset: float = Field(10.0, gt=0.0, description="seconds the open breaker waits before one probe")
    degraded_after: float = Field(60.0, gt=0.0, description=(
        "seconds the LLM circuit may stay open before /healthz answers 503 degraded"))

    # --------------------------------------------------------------------- the question asked
    goal: str = Field("default", description=(
        f"what counts as progress: a preset ({', '.join(GOALS)}) or the task in a sentence of your own "
        "(\"Pick up the key and unlock the door.\"; see docs/reward-models.md on how its cut is set)"))
    goal_example: list[str] = Field([], description=(
        "a message that shows progress toward a goal written as text, labelled helpful in the judge's prompt "
        "(repeat for several, up to 16; the judge needs them: docs/reward-models.md)"))
    goal_counterexample: list[str] = Field([], description=(
        "a message of your task that is not progress (one GET /v1/paid lists, say): never paid, never shown to "
        "the judge, and the judge's cut rises to its score (repeat, up to 64; any goal; docs/reward-models.md)"))
    label_mode: LabelMode = Field("logprob", description=(
        "logprob: one forward pass, the label from the yes/no log-odds (small models); generate: chain of "
        "thought, then parse a label (big models)"))
    prompt_style: PromptStyle | None = Field(None, description=(
        "logprob prompt: many-shot (a labelled list to continue; base models), paper (the paper's four worked "
        "examples as chat), families or compact. Default: the style measured best for an embedded model, "
        "many-shot for any other"))
    label_words: Literal["yes-no", "foo-bar", "one-zero"] = Field(
        "yes-no", description="the two answer words whose log-odds give the label")
    decompose: bool | None = Field(None, description=(
        "judge each message of an NLE line alone and keep the best part's score. Default: on for the embedded "
        "Gemma (measured best), off for other models"))
    part_cache_size: int = Field(65_536, ge=0, description=(
        "answers about single messages kept in memory, so a part met in many lines is asked once"))

    # ------------------------------------------------------------------------- labels → reward
    reward_model: RewardModelName = Field("retrieval", description=describe_models())
    offline: bool = Field(False, description=(
        "learn from the store's answers only (e.g. imported with 'python -m reward_server import'): no message "
        "is sent to the LLM; a learned model is fit once at start and then frozen (Motif's offline setting). "
        "The calibration messages are still scored once if the store has no cut for the question"))
    calibration: CalibrationMode = Field("examples", description=(
        "log-odds cut: examples (set from the judge's scores of labelled calibration messages, "
        "--positive-share a ceiling), quantile (a quota: the top --positive-share), fixed (--threshold)"))
    positive_share: float = Field(0.5, gt=0.0, lt=1.0, description=(
        "share of messages labelled helpful: at most (examples: a guard against a judge that says yes to "
        "everything), exactly (quantile; 0.25 was its default)"))
    threshold: float = Field(0.0, description="fixed log-odds cut (and the cut until the calibration messages are scored)")
    train_every: int = Field(64, ge=1, description="learned models: refit after this many new labels/preferences")
    train_interval: float = Field(5.0, gt=0.0, description="learned models: or this many seconds after the first unfitted one")
    decision_threshold: float = Field(0.5, gt=0.0, lt=1.0, description="classification: probability that pays 1")
    rank_cut: Literal["examples", "fixed"] = Field("examples", description=(
        "ranking: examples (the cut on the normalised score z that separates the labelled calibration messages; "
        "a message above it pays z - cut) or fixed (z above --rank-threshold pays z: a quota of what arrives)"))
    rank_threshold: float = Field(0.5, description="ranking with --rank-cut fixed: normalised score z above which a message pays z")
    bow_threshold: float | None = Field(None, description=(
        "ellm-bow: cosine similarity above which a message pays its similarity. Default: the cut that best "
        "separates the labelled calibration messages' similarities (balanced accuracy)"))
    pairs_per_message: int = Field(2, ge=1, le=64, description="ranking: comparisons per distinct message")
    preferences: Literal["auto", "pairwise", "labels"] = Field("auto", description=(
        "ranking: pairwise (the paper's question about two messages) or labels (P(a > b) from the difference "
        "of the two messages' log-odds, each message asked once); auto: labels for the embedded models, whose "
        "pairwise answers are at chance, pairwise for any other --llm"))

    # --------------------------------------------------------------------------- the queue
    batch_size: int = Field(32, ge=1, le=10_000, description="annotations committed (and published) per batch")
    concurrency: int = Field(4, ge=1, le=1024, description="LLM requests in flight")
    max_queue: int = Field(1_000_000, ge=1, description=(
        "messages held in memory for the LLM; more wait in the store (refilled when it runs dry)"))

    # ------------------------------------------------------------------------ HTTP and disk
    host: str = Field("127.0.0.1", description="bind address; another than loopback needs --token")
    port: int = Field(8765, ge=0, le=65535, description="bind port (0: any free port)")
    store: Path = Field(Path("oni-data/oni.sqlite"), description="SQLite file of messages and answers (created)")
    token: SecretStr | None = Field(None, description=(
        "require 'Authorization: Bearer TOKEN' on every endpoint but /healthz"))
    insecure_no_token: bool = Field(False, description="serve a --host other than loopback without a token")
    allowed_host: list[str] = Field(default_factory=list, description=(
        "a host name clients may reach this server by (the Host header), besides loopback names and IP "
        "addresses; repeat for several. Other names are refused: a web page's DNS-rebinding trick cannot "
        "reach the server"))
    header_timeout: float = Field(15.0, gt=0.0, description=(
        "seconds a connection may hold a socket before its request's headers have arrived (and idle "
        "between requests)"))
    body_timeout: float = Field(60.0, gt=0.0, description="seconds a request body may take to arrive")
    max_batch_messages: int = Field(4096, ge=1, description="messages per POST /v1/messages or /v1/score")
    max_message_chars: int = Field(1024, ge=1, description="characters per message")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="bytes per request body")
    log_level: str = Field("INFO", description="logging level")

    # ----------------------------------------------------------- memory at a million messages
    change_log_rows: int = Field(2_000_000, ge=1, description=(
        "changed rows the reward table's change log keeps for deltas; a client older than the log gets the "
        "whole table"))
    max_delta_rows: int = Field(200_000, ge=1, description=(
        "a delta bigger than this is answered with the whole table (a prepared, compressed snapshot)"))
    snapshot_max_age: float = Field(0.0, ge=0.0, description=(
        "seconds a whole-table snapshot may be reused while the table moves on (clients then pull the delta); "
        "0: rebuilt when the table changed (concurrent requests share one build)"))
    # ----------------------------------------------------------- what the agents make of the table
    paid_share_warning: float = Field(0.5, ge=0.0, le=1.0, description=(
        "warn when this share of a block of message reports is of messages the table pays: agents farming "
        "junk the judge pays (again only after a block falls below 0.8 of it); 0: never. Models that pay "
        "most messages by design (novelty, ellm-bow, a quota cut) are not watched"))
    paid_share_window: int = Field(20_000, ge=1, description="message reports per block the paid share is taken over")

    feature_cache_rows: int = Field(500_000, ge=1, description=(
        "learned models: messages whose features are kept for re-scoring at each fit; the oldest beyond it "
        "keep their last published reward"))

    @field_validator("goal")
    @classmethod
    def _known_goal(cls, goal: str) -> str:
        return check_goal(goal)

    @field_validator("allowed_host", mode="before")
    @classmethod
    def _one_or_many_hosts(cls, value: object) -> object:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    @field_validator("allowed_host")
    @classmethod
    def _plain_host_names(cls, hosts: list[str]) -> list[str]:
        names = [h.strip().lower().rstrip(".") for h in hosts]
        bad = [h for h in names if not h or any(c in h for c in "/:@ ") and h != "*"]
        if bad:
            raise ValueError(f"--allowed-host takes bare host names (gpu-host, rewards.example.org), not {bad[0]!r}")
        return names

    @field_validator("api_base", mode="before")
    @classmethod
    def _one_or_many_bases(cls, value: object) -> object:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _resolve(self) -> ServerConfig:
        """Cross-field rules and per-model defaults, checked once here (not in the loop)."""
        if self.api_key is None and os.environ.get("ONI_LLM_API_KEY"):
            self.api_key = SecretStr(os.environ["ONI_LLM_API_KEY"])
        if self.llm.startswith("vllm/") and self.api_base:
            # vllm/ runs vLLM inside this process; with a server address the user means that server
            self.llm = "hosted_vllm/" + self.llm.removeprefix("vllm/")
            logger.info("--llm vllm/... with --api-base: using the server, as %s", self.llm)
        if self.llm_endpoint == "completion" and (not self.api_base or provider_of(self.llm) not in OPENAI_COMPATIBLE):
            raise ValueError("--llm-endpoint completion needs an OpenAI-compatible server: "
                             "--llm hosted_vllm/<model> (or openai/<model>) with --api-base")
        if not self.token and not self.insecure_no_token and not _is_loopback(self.host):
            raise ValueError(f"--host {self.host} serves other machines: set --token (or ONI_TOKEN), "
                             "or pass --insecure-no-token to serve without one")
        if self.preferences == "auto":
            self.preferences = "labels" if self.llm.startswith(EMBEDDED_PROVIDER + "/") else "pairwise"
        goal = self.goal_spec  # building the Goal checks it: a preset takes no examples; each is one line
        if goal.counterexamples:
            self._check_counterexamples(goal)
        style, decompose = labelling_defaults(self.llm)
        if self.prompt_style is None:
            self.prompt_style = style
        if self.decompose is None:
            self.decompose = decompose
        return self

    def _check_counterexamples(self, goal: Goal) -> None:
        if self.label_mode != "logprob" or self.calibration != "examples":
            raise ValueError("--goal-counterexample raises the cut the judge's scores set from evidence: it needs "
                             "--label-mode logprob and --calibration examples (the defaults), whatever the reward "
                             "model")
        for text in goal.counterexamples:
            if len(text) > self.max_message_chars:
                raise ValueError(f"the goal counterexample {text[:40]!r} is {len(text)} characters; messages are at "
                                 f"most --max-message-chars ({self.max_message_chars})")
        helpful = sorted(set(goal.counterexamples) & labelled_helpful(goal))
        if helpful:
            raise ValueError(f"{helpful[0]!r} is labelled helpful under the goal {goal.text!r} (its examples or "
                             "calibration messages): it cannot also be a counterexample")

    @property
    def goal_spec(self) -> Goal:
        """The goal with its examples: what every prompt and calibration message is built from."""
        return Goal(self.goal, tuple(self.goal_example), tuple(self.goal_counterexample))

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
