"""The LLM judge: one message in, one label (or log-odds score) out, through litellm.

Every provider — the embedded models, vLLM, OpenAI, Ollama — is reached through
:class:`~reward_server.judging.llm_calls.LLMCaller` (chat or plain-text completion, one server or
several). Failures are sorted (:func:`~reward_server.judging.llm_calls.classify_failure`):

* transient (timeouts, refused connections, 429/5xx): retried with exponential backoff and
  jitter, counted by the circuit breaker;
* misconfigured (bad credentials, unknown model, missing provider module): not retried in the
  call, counted by the breaker, the message goes back to the queue;
* rejected (a 400 for *this* request): :class:`LLMRejected`, stored as a failed answer with its
  reason, never asked again, not counted by the breaker.

An answer that holds no label, or a reply that is not a completion at all, is *not* retried (at
temperature 0 it would say the same) but returned as unparsable, so the store records it and the
question is never asked again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from pydantic import SecretStr

from reward_server.judging.circuit import CircuitBreaker, CircuitOpen
from reward_server.judging.decompose import best_part, split_messages
from reward_server.judging.llm_calls import (
    LLMCaller,
    LLMReply,
    MalformedReply,
    classify_failure,
    close_litellm,
    failure_hint,
    is_unreachable,
)
from reward_server.judging.parsing import (
    UnparsableAnswer,
    label_log_odds,
    parse_generated_label,
    parse_preference,
)
from reward_server.judging.prompts import (
    LABEL_WORDS,
    PAPER_WORDS,
    RANKING_WORDS,
    SYSTEM_PROMPT,
    GoalLike,
    LabelMode,
    LabelWords,
    PromptStyle,
    generate_prompt,
    logprob_messages,
    quote_message,
    ranking_messages,
    ranking_prompt,
)

logger = logging.getLogger(__name__)


class LLMUnavailable(RuntimeError):
    """The LLM could not be reached (or kept failing) after all retries, or the circuit
    breaker is open."""


class LLMPreflightFailed(RuntimeError):
    """The first question at start-up showed that no call can succeed as configured."""


class LLMRejected(RuntimeError):
    """The LLM refused *this* request for good (HTTP 400: too long, refused content, ...)."""


class LLMCircuitOpen(LLMUnavailable):
    """The circuit breaker refused the call; ``retry_in`` seconds until it lets a probe out."""

    def __init__(self, message: str, retry_in: float) -> None:
        super().__init__(message)
        self.retry_in = retry_in


@dataclass(frozen=True)
class Judgement:
    """What the LLM said about one message.

    ``label`` is set in generate mode; ``score`` (log-odds of helpful) in logprob mode, where
    the label is decided later by a calibrated threshold. Both ``None``: unparsable answer.
    """

    label: int | None
    score: float | None
    raw: str

    @property
    def parsed(self) -> bool:
        return self.label is not None or self.score is not None


@dataclass(frozen=True)
class PreflightReport:
    """The outcome of the first question asked at start-up."""

    #: ok: a labelled answer; warn: a timeout, a 5xx or an answer with no label (the server
    #: starts and says so); fatal: no call can succeed as configured (the server exits)
    outcome: Literal["ok", "warn", "fatal"]
    detail: str
    seconds: float


@dataclass(frozen=True)
class JudgeConfig:
    """The judge's own settings. Fields that the server also has carry the server setting's name,
    so the server derives this from its settings by name (``reward_server.service.judge_config``):
    a new judge option is one field here and one in ``ServerConfig``."""

    llm: str
    label_mode: LabelMode = "logprob"
    #: one server, or several that litellm's Router spreads calls across
    api_base: tuple[str, ...] = field(default_factory=tuple)
    #: a ``SecretStr`` from the server's settings (never printed), or a plain string
    api_key: SecretStr | str | None = None
    #: ``chat`` or ``completion`` (resolved from ``auto`` by the server config)
    endpoint: str = "chat"
    llm_timeout: float = 60.0
    llm_retries: int = 4
    backoff_base: float = 0.5
    llm_max_tokens: int = 512
    top_logprobs: int = 20
    breaker_failures: int = 5
    breaker_reset: float = 10.0
    prompt_style: PromptStyle = "many-shot"
    label_words: str = "yes-no"
    #: judge each message of an NLE line on its own and keep the best (see decompose.py)
    decompose: bool = False
    #: answers about single messages kept in memory, so a part met in many lines is asked once
    part_cache_size: int = 65_536


class LLMJudge:
    """Asks one LLM whether messages are helpful for a goal."""

    def __init__(self, config: JudgeConfig) -> None:
        self.config = config
        self.retries = 0
        self.malformed = 0  # replies that were not completions, stored as unparsable
        self.parts_evicted = 0  # answers about single messages dropped from the bounded cache
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_reset)
        self._parts: OrderedDict[tuple[str, str], Judgement] = OrderedDict()
        api_base = (config.api_base,) if isinstance(config.api_base, str) else tuple(config.api_base)
        self.caller = LLMCaller(
            config.llm, endpoint=config.endpoint, api_base=api_base,
            api_key=config.api_key.get_secret_value() if isinstance(config.api_key, SecretStr) else config.api_key,
            timeout=config.llm_timeout,
        )

    @property
    def part_cache_entries(self) -> int:
        return len(self._parts)

    async def aclose(self) -> None:
        """Release litellm's background workers, which otherwise outlive the event loop."""
        await close_litellm()

    async def judge(self, message: str, goal: GoalLike) -> Judgement:
        """The judgement of one message line: whole, or (``decompose``) its best part's."""
        if not self.config.decompose:
            return await self._judge_single(message, goal)
        parts = split_messages(message)
        judgements = await asyncio.gather(*(self._judge_part(part, goal) for part in parts))
        if len(parts) == 1:
            return judgements[0]
        raw = "\n".join(f"{quote_message(part)}: {j.raw}" for part, j in zip(parts, judgements, strict=True))
        if self.config.label_mode == "generate":
            label = best_part([j.label for j in judgements])
            return Judgement(None if label is None else int(label), None, raw)
        return Judgement(None, best_part([j.score for j in judgements]), raw)

    async def _judge_part(self, part: str, goal: GoalLike) -> Judgement:
        key = (goal, part)
        cached = self._parts.get(key)
        if cached is not None:
            self._parts.move_to_end(key)
            return cached
        judgement = await self._judge_single(part, goal)
        self._parts[key] = judgement
        if len(self._parts) > self.config.part_cache_size:
            self._parts.popitem(last=False)
            self.parts_evicted += 1
        return judgement

    async def _judge_single(self, message: str, goal: GoalLike) -> Judgement:
        if self.config.label_mode == "generate":
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": generate_prompt(message, goal)},
            ]
            reply = await self._complete(messages, max_tokens=self.config.llm_max_tokens)
            if isinstance(reply, Judgement):
                return reply
            try:
                return Judgement(parse_generated_label(reply.text, PAPER_WORDS, (message,)), None, reply.text)
            except UnparsableAnswer:
                return Judgement(None, None, reply.text)

        words = LABEL_WORDS[self.config.label_words]
        return await self.log_odds(logprob_messages(message, goal, words, self.config.prompt_style), words)

    async def compare(self, first: str, second: str, goal: GoalLike) -> Judgement:
        """Which of two messages shows more progress: a :class:`Judgement` whose ``label`` is 1
        (first) or 0 (second) in generate mode, ``score`` 0.0 for a tie, and in logprob mode
        ``score`` = log P("1") − log P("2") (the ranking model reads P(first better) from it)."""
        if self.config.label_mode == "generate":
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": ranking_prompt(first, second, goal)},
            ]
            reply = await self._complete(messages, max_tokens=self.config.llm_max_tokens)
            if isinstance(reply, Judgement):
                return reply
            answer = reply.text
            try:
                verdict = parse_preference(answer, (first, second))
            except UnparsableAnswer:
                return Judgement(None, None, answer)
            if verdict is None:
                return Judgement(None, 0.0, answer)  # a tie: even odds
            return Judgement(int(verdict == 1), None, answer)
        return await self.log_odds(ranking_messages(first, second, goal, self.config.prompt_style), RANKING_WORDS)

    async def log_odds(self, chat: list[dict[str, str]], words: LabelWords) -> Judgement:
        """Log-odds of ``words.positive`` over ``words.negative`` as the first answer token.

        Public so an experiment can score a chat of its own through exactly the server's path:
        retries, breaker, parsing.
        """
        reply = await self._complete(chat, max_tokens=1, top_logprobs=self.config.top_logprobs)
        if isinstance(reply, Judgement):
            return reply
        top = reply.top_logprobs
        raw = " ".join(f"{tok!r}:{lp:.3f}" for tok, lp in top) or reply.text
        try:
            return Judgement(None, label_log_odds(top, words), raw)
        except UnparsableAnswer:
            return Judgement(None, None, raw)

    async def _complete(
        self, messages: list[dict[str, str]], *, max_tokens: int, top_logprobs: int | None = None
    ) -> LLMReply | Judgement:
        """One answer, with retries; a reply that is no completion comes back as an unparsable
        :class:`Judgement` (stored, never asked again)."""
        attempt = 0
        while True:
            try:
                self.breaker.before_call()
            except CircuitOpen as exc:
                raise LLMCircuitOpen(str(exc), self.breaker.retry_in()) from exc
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that races with completion, which left shutdown waiting on a worker forever.
                async with asyncio.timeout(self.config.llm_timeout):
                    reply = await self.caller.ask(messages, max_tokens=max_tokens, top_logprobs=top_logprobs)
                self.breaker.record_success()
                return reply
            except asyncio.CancelledError:
                self.breaker.record_abandoned()
                raise
            except MalformedReply as exc:
                self.breaker.record_success()  # the LLM answered; its answer is useless
                self.malformed += 1
                logger.warning("the LLM's reply is not a completion (stored as unparsable): %s", exc)
                return Judgement(None, None, f"malformed reply: {exc}")
            except Exception as exc:  # sorted below: retried, surfaced or stored
                kind = classify_failure(exc)
                if kind == "rejected":
                    self.breaker.record_abandoned()  # says nothing about the LLM's health
                    raise LLMRejected(f"{type(exc).__name__}: {exc}") from exc
                self.breaker.record_failure()
                if kind == "misconfigured" or attempt >= self.config.llm_retries:
                    raise LLMUnavailable(f"{type(exc).__name__}: {exc}") from exc
                attempt += 1
                self.retries += 1
                delay = self.config.backoff_base * 2 ** (attempt - 1)
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))

    async def preflight(self, goal: GoalLike, probe: str = "You kill the newt!") -> PreflightReport:
        """Ask one real labelling question, once, before the server starts taking messages.

        ``fatal``: no call can succeed as configured (missing provider module, bad credentials,
        unknown model, nothing listening at ``--api-base``, the request itself refused);
        ``warn``: a timeout or a 5xx, which may pass, or an answer with no label in it.
        """
        started = time.monotonic()
        if self.config.label_mode == "generate":
            messages = [{"role": "system", "content": SYSTEM_PROMPT},
                        {"role": "user", "content": generate_prompt(probe, goal)}]
            params: dict[str, int | None] = {"max_tokens": self.config.llm_max_tokens, "top_logprobs": None}
        else:
            words = LABEL_WORDS[self.config.label_words]
            messages = logprob_messages(probe, goal, words, self.config.prompt_style)
            params = {"max_tokens": 1, "top_logprobs": self.config.top_logprobs}
        api_base = tuple(self.config.api_base)
        try:
            async with asyncio.timeout(self.config.llm_timeout):
                reply = await self.caller.ask(messages, **params)  # type: ignore[arg-type]
        except MalformedReply as exc:
            return PreflightReport("warn", f"the LLM's reply is not a completion: {exc}",
                                   time.monotonic() - started)
        except Exception as exc:  # noqa: BLE001 - sorted into fatal or transient
            kind = classify_failure(exc)
            fatal = kind != "transient" or is_unreachable(exc)
            return PreflightReport("fatal" if fatal else "warn", failure_hint(exc, self.config.llm, api_base),
                                   time.monotonic() - started)
        seconds = time.monotonic() - started
        if self.config.label_mode == "generate":
            try:
                label = parse_generated_label(reply.text, PAPER_WORDS)
                return PreflightReport("ok", f"{probe!r} labelled {label} (generate mode)", seconds)
            except UnparsableAnswer:
                return PreflightReport("warn", f"answered {probe!r} without a <label>: such answers pay 0; "
                                       "a base or small model needs --label-mode logprob", seconds)
        words = LABEL_WORDS[self.config.label_words]
        try:
            return PreflightReport("ok", f"{probe!r}: log-odds {label_log_odds(reply.top_logprobs, words):+.2f}",
                                   seconds)
        except UnparsableAnswer as exc:
            return PreflightReport("warn", f"no label in the answer to {probe!r} ({exc}); every label would be "
                                   "unparsable: does the server return logprobs? Else use --label-mode generate",
                                   seconds)
