"""The LLM judge: one message in, one label (or log-odds score) out, through litellm.

Every provider — the embedded models, vLLM, OpenAI, Ollama — goes through
``litellm.acompletion`` with the same arguments. Transport failures (timeouts, refused
connections, 429/5xx) are retried with exponential backoff and jitter; an answer that holds
no label is *not* retried (at temperature 0 it would say the same) but returned as
unparsable, so the store records it and the question is never asked again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

# litellm fetches a model cost map from the internet at import unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_TELEMETRY", "False")

import litellm  # noqa: E402

from reward_server.circuit import CircuitBreaker, CircuitOpen  # noqa: E402
from reward_server.decompose import best_part, split_messages  # noqa: E402
from reward_server.embedded_llm import EMBEDDED_PROVIDER, register_embedded_provider  # noqa: E402
from reward_server.parsing import (  # noqa: E402
    UnparsableAnswer,
    label_log_odds,
    parse_generated_label,
    parse_preference,
)
from reward_server.prompts import (  # noqa: E402
    LABEL_WORDS,
    PAPER_WORDS,
    RANKING_WORDS,
    LabelWords,
    SYSTEM_PROMPT,
    quote_message,
    LabelMode,
    PromptStyle,
    generate_prompt,
    logprob_messages,
    ranking_messages,
    ranking_prompt,
)

litellm.telemetry = False
litellm.suppress_debug_info = True
logging.getLogger("LiteLLM").setLevel(logging.WARNING)  # it logs every call at INFO


class LLMUnavailable(RuntimeError):
    """The LLM could not be reached (or kept failing) after all retries, or the circuit
    breaker is open."""


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
class JudgeConfig:
    model: str
    label_mode: LabelMode = "logprob"
    api_base: str | None = None
    api_key: str | None = None
    timeout: float = 60.0
    max_retries: int = 4
    backoff_base: float = 0.5
    max_tokens: int = 512
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
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_reset)
        self._parts: OrderedDict[tuple[str, str], Judgement] = OrderedDict()
        if config.model.startswith(EMBEDDED_PROVIDER + "/"):
            register_embedded_provider()

    async def aclose(self) -> None:
        """Stop litellm's background logging task, which otherwise outlives the event loop."""
        from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

        await GLOBAL_LOGGING_WORKER.stop(discard_pending=True, timeout=1.0)

    async def judge(self, message: str, goal: str) -> Judgement:
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

    async def _judge_part(self, part: str, goal: str) -> Judgement:
        key = (goal, part)
        cached = self._parts.get(key)
        if cached is not None:
            self._parts.move_to_end(key)
            return cached
        judgement = await self._judge_single(part, goal)
        self._parts[key] = judgement
        if len(self._parts) > self.config.part_cache_size:
            self._parts.popitem(last=False)
        return judgement

    async def _judge_single(self, message: str, goal: str) -> Judgement:
        if self.config.label_mode == "generate":
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": generate_prompt(message, goal)},
            ]
            response = await self._complete(messages, max_tokens=self.config.max_tokens)
            answer = response.choices[0].message.content or ""
            try:
                return Judgement(parse_generated_label(answer, PAPER_WORDS), None, answer)
            except UnparsableAnswer:
                return Judgement(None, None, answer)

        words = LABEL_WORDS[self.config.label_words]
        return await self.log_odds(logprob_messages(message, goal, words, self.config.prompt_style), words)

    async def compare(self, first: str, second: str, goal: str) -> Judgement:
        """Which of two messages shows more progress: a :class:`Judgement` whose ``label`` is 1
        (first) or 0 (second) in generate mode, ``score`` 0.0 for a tie, and in logprob mode
        ``score`` = log P("1") − log P("2"). P(first better) is :func:`preference_of` it."""
        if self.config.label_mode == "generate":
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": ranking_prompt(first, second, goal)},
            ]
            response = await self._complete(messages, max_tokens=self.config.max_tokens)
            answer = response.choices[0].message.content or ""
            try:
                verdict = parse_preference(answer)
            except UnparsableAnswer:
                return Judgement(None, None, answer)
            if verdict is None:
                return Judgement(None, 0.0, answer)  # a tie: even odds
            return Judgement(int(verdict == 1), None, answer)
        return await self.log_odds(ranking_messages(first, second, goal, self.config.prompt_style), RANKING_WORDS)

    async def log_odds(self, chat: list[dict[str, str]], words: LabelWords) -> Judgement:
        """Log-odds of ``words.positive`` over ``words.negative`` as the first answer token.

        Public so prompt experiments (``benchmarks/prompt_trials.py``) score their own chats
        through exactly the server's path: retries, breaker, parsing.
        """
        response = await self._complete(
            chat,
            max_tokens=1,
            logprobs=True,
            top_logprobs=self.config.top_logprobs,
        )
        choice = response.choices[0]
        top = _first_token_top_logprobs(choice)
        raw = " ".join(f"{tok!r}:{lp:.3f}" for tok, lp in top) or (choice.message.content or "")
        try:
            return Judgement(None, label_log_odds(top, words), raw)
        except UnparsableAnswer:
            return Judgement(None, None, raw)

    async def _complete(self, messages: list[dict[str, str]], **params: Any) -> Any:
        attempt = 0
        while True:
            try:
                self.breaker.before_call()
            except CircuitOpen as exc:
                raise LLMCircuitOpen(str(exc), self.breaker.retry_in()) from exc
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that races with completion, which left shutdown waiting on a worker forever.
                async with asyncio.timeout(self.config.timeout):
                    response = await litellm.acompletion(
                        model=self.config.model,
                        messages=messages,
                        temperature=0.0,
                        api_base=self.config.api_base,
                        api_key=self.config.api_key,
                        timeout=self.config.timeout,
                        num_retries=0,
                        **params,
                    )
                self.breaker.record_success()
                return response
            except asyncio.CancelledError:
                self.breaker.record_abandoned()
                raise
            except Exception as exc:  # noqa: BLE001 - any provider error is retried, then surfaced
                if _is_permanent(exc):
                    self.breaker.record_abandoned()
                    raise LLMUnavailable(f"{type(exc).__name__}: {exc}") from exc
                self.breaker.record_failure()
                if attempt >= self.config.max_retries:
                    raise LLMUnavailable(f"{type(exc).__name__}: {exc}") from exc
                attempt += 1
                self.retries += 1
                delay = self.config.backoff_base * 2 ** (attempt - 1)
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))


def preference_of(judgement: Judgement) -> float | None:
    """P(first message better) from a :meth:`LLMJudge.compare` judgement; ``None`` if unparsable."""
    if judgement.score is not None:
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, judgement.score))))
    if judgement.label is not None:
        return float(judgement.label)
    return None


def _is_permanent(exc: Exception) -> bool:
    """Errors that no retry can fix: bad credentials, unknown model, malformed request."""
    permanent = (
        litellm.AuthenticationError,
        litellm.NotFoundError,
        litellm.BadRequestError,
        litellm.PermissionDeniedError,
    )
    return isinstance(exc, permanent)


def _first_token_top_logprobs(choice: Any) -> list[tuple[str, float]]:
    logprobs = getattr(choice, "logprobs", None)
    content = getattr(logprobs, "content", None) if logprobs is not None else None
    if not content:
        return []
    return [(entry.token, float(entry.logprob)) for entry in content[0].top_logprobs or []]
