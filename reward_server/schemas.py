"""Request and response bodies of the HTTP API (pydantic models at the boundary)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class MessageIn(_Strict):
    text: str = Field(min_length=1, description="the game message, as the wrapper decoded it")
    count: int = Field(1, ge=0, le=2**40, description="occurrences since the last report")


class MessagesIn(_Strict):
    messages: list[MessageIn]


class MessagesAccepted(BaseModel):
    accepted: int
    new: int
    queued: int


class RewardsOut(BaseModel):
    table_id: str = Field(description="identity of the store's version sequence; a change means resync")
    version: int
    full: bool = Field(description="true when 'rewards' is the whole table, not a delta")
    rewards: dict[str, float]


class ScoreIn(_Strict):
    messages: list[str]


class ScoreRow(BaseModel):
    message: str
    reward: float = Field(description="the current reward model's reward (also for unseen messages)")
    labelled: bool = Field(description="the LLM has labelled this message")
    score: float | None = Field(None, description="LLM log-odds of helpful (logprob mode)")


class ScoreOut(BaseModel):
    version: int
    threshold: float
    scores: list[ScoreRow]


class PaidRow(BaseModel):
    message: str
    count: int = Field(description="how often the wrappers reported it")
    reward: float
    score: float | None = Field(None, description="LLM log-odds of helpful (logprob mode)")


class PaidOut(BaseModel):
    version: int
    threshold: float | None = Field(description=(
        "the LLM log-odds cut while the table is the LLM's labels (retrieval; a learned model before its "
        "first fit); null when a model serves its own"))
    paid_messages: int = Field(description="distinct messages the table pays")
    paid_share: float = Field(description=(
        "share of the reported messages (steps that showed one, summed over envs) whose message is paid; the "
        "wrapper pays a message less each time it repeats in an episode"))
    messages: list[PaidRow] = Field(description="the paid messages, the most often reported first")


class StatsOut(BaseModel):
    llm: str
    goal: str
    goal_examples: list[str] = Field(default_factory=list, description=(
        "the example messages of progress of a goal written as text (part of the question asked)"))
    goal_counterexamples: list[str] = Field(default_factory=list, description=(
        "messages the user says are not progress: they set the cut, not the question"))
    label_mode: str
    reward_model: str
    prompt_version: str
    messages: int
    labelled: int
    preferences: int = Field(description="LLM pairwise preferences held (ranking model)")
    judged: int = Field(description="LLM judgements stored by this server process")
    queued: int
    in_flight: int
    unparsable: int
    llm_failures: int
    llm_rejected: int = Field(description="requests the LLM refused for good (HTTP 400), stored as failed answers")
    malformed_replies: int = Field(description="LLM replies that were not completions, stored as unparsable")
    worker_errors: int = Field(description="unexpected errors in annotator workers (item re-queued, worker kept)")
    workers_alive: int = Field(description="annotator workers running")
    deferred: int = Field(description="messages that found the in-memory queue full; they wait in the store")
    llm_retries: int
    llm_circuit: str = Field(description="LLM circuit breaker: closed, open or half_open")
    llm_circuit_opened: int = Field(description="times the breaker opened")
    llm_circuit_rejected: int = Field(description="calls refused while the breaker was open")
    last_llm_error: str | None
    table_version: int
    table_size: int
    change_log_rows: int = Field(0, description="changed rows kept for deltas (at most --change-log-rows)")
    change_log_evicted_rows: int = Field(0, description="changed rows dropped from the change log")
    snapshots_built: int = Field(0, description="whole-table snapshots built for full syncs")
    snapshot_rows: int | None = Field(None, description="rows of the latest snapshot")
    snapshot_gzip_bytes: int | None = Field(None, description="its size, gzip-compressed")
    snapshot_seconds: float | None = Field(None, description="seconds its build took (off the event loop)")
    part_cache_entries: int = Field(0, description="answers about single message parts held (at most --part-cache-size)")
    part_cache_evicted: int = Field(0, description="answers dropped from that cache")
    positive_share: float
    recent_paid_share: float | None = Field(None, description=(
        "share of the last block of --paid-share-window message reports that the table paid (null: fewer "
        "reports yet, or a model not watched because it pays most messages by design: novelty, ellm-bow, a "
        "quota cut)"))
    threshold: float
    model_version: int = Field(0, description="fits of the learned reward model (0: retrieval)")
    fits: int = Field(0, description="fits by this server process")
    fit_failures: int = 0
    publish_failures: int = Field(0, description="learned model: table publications that failed (retried)")
    feature_cache_rows: int = Field(0, description="learned model: messages whose features are cached (at most --feature-cache-rows)")
    feature_cache_evicted: int = Field(0, description="learned model: oldest messages dropped from the feature cache")
    checkpoint_failures: int = Field(0, description="learned model: checkpoints that failed (retried)")
    train_examples: int = Field(0, description="labels or preferences the last fit used")
    train_accuracy: float | None = Field(None, description="last fit: training accuracy / preference agreement")
    heldout_accuracy: float | None = Field(
        None, description="last fit: balanced accuracy on held-out message families (classification)"
    )
    last_fit_seconds: float | None = None


class HealthOut(BaseModel):
    status: str = Field(description="ok, or degraded (answered with HTTP 503)")
    reasons: list[str] = Field(default_factory=list, description="why it is degraded")


class LimitsOut(BaseModel):
    """What one request may hold; clients split their batches to fit."""

    max_batch_messages: int = Field(description="messages per POST /v1/messages or /v1/score")
    max_message_chars: int = Field(description="characters per message, after trimming")
    max_body_bytes: int = Field(description="bytes per request body")


class ErrorOut(BaseModel):
    error: str
    detail: object = None
