"""The reward service: store + annotator + reward model + published table, one owner.

HTTP handlers call this object and nothing else. Store calls run on a single-thread
executor: the event loop never waits on disk, and SQLite sees exactly one writer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from reward_server.annotator import Annotator
from reward_server.calibration import ThresholdCalibrator
from reward_server.config import ServerConfig
from reward_server.judge import JudgeConfig, Judgement, LLMJudge
from reward_server.metrics import ServerMetrics
from reward_server.prompts import LABEL_WORDS, prompt_version
from reward_server.retrieval import RetrievalModel
from reward_server.reward_table import RewardTable
from reward_server.schemas import ScoreRow, StatsOut
from reward_server.store import Annotation, AnnotationKey, Store

logger = logging.getLogger(__name__)
T = TypeVar("T")


class RewardService:
    def __init__(self, config: ServerConfig, judge: LLMJudge | None = None) -> None:
        self.config = config
        self.judge = judge or LLMJudge(
            JudgeConfig(
                model=config.llm,
                label_mode=config.label_mode,
                api_base=config.api_base,
                api_key=config.api_key,
                timeout=config.llm_timeout,
                max_retries=config.llm_retries,
                breaker_failures=config.breaker_failures,
                breaker_reset=config.breaker_reset,
                prompt_style=config.prompt_style,
                label_words=config.label_words,
            )
        )
        self.key = AnnotationKey(
            goal=config.goal,
            prompt_version=prompt_version(
                config.label_mode, config.goal, config.prompt_style, LABEL_WORDS[config.label_words]
            ),
            model=config.llm,
            label_mode=config.label_mode,
        )
        self.table = RewardTable()
        self.model = RetrievalModel(
            ThresholdCalibrator(
                config.calibration,
                fixed_threshold=config.threshold,
                positive_share=config.positive_share,
            )
        )
        self.annotator = Annotator(
            self.judge,
            config.goal,
            self._store_judgement,
            self._publish_judgements,
            self._unannotated,
            concurrency=config.concurrency,
            batch_size=config.batch_size,
            max_queue=config.max_queue,
        )
        self.metrics = ServerMetrics(self)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="oni-store")
        self._store: Store | None = None
        self._message_count = 0

    # ------------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Open the store, rebuild table and model from it, re-queue what is unannotated."""
        self._store = await self._run(Store, self.config.store)
        store = self._store
        rows = await self._run(lambda: list(store.reward_rows()))
        version = await self._run(store.table_version)
        self.table.load(rows, version)
        annotations = await self._run(lambda: list(store.annotations(self.key)))
        self._message_count = await self._run(store.message_count)
        unannotated = await self._run(store.unannotated, self.key)
        backlog = len(unannotated) - self.config.max_queue
        self.annotator.enqueue(unannotated[max(0, backlog):])  # newest first, as always
        if backlog > 0:
            self.annotator.defer(backlog)  # the oldest wait in the store for a refill
        # Re-derive every reward from this question's annotations: a restart with another
        # goal, model or threshold must not keep serving the previous labels.
        await self._publish({text: 0.0 for text in unannotated} | self.model.add(annotations))
        logger.info(
            "store %s: %d messages, %d annotations for this question, %d re-queued, table v%d",
            self.config.store, self._message_count, len(annotations), len(unannotated), self.table.version,
        )
        await self.annotator.start()

    async def stop(self) -> None:
        await self.annotator.stop()
        await self.judge.aclose()
        if self._store is not None:
            await self._run(self._store.close)
            self._store = None
        self._executor.shutdown(wait=True)

    # ------------------------------------------------------------------------ API calls
    async def ingest(self, counts: Mapping[str, int]) -> tuple[int, int, int]:
        """Record message reports; returns (accepted, new to the store, newly queued)."""
        store = self._require_store()
        new = await self._run(store.add_messages, counts)
        self._message_count += len(new)
        queued = self.annotator.enqueue(new)
        if new:
            # Seen but unlabelled messages pay 0; publishing them tells clients the server
            # has them, so they stop resending.
            await self._publish({text: 0.0 for text in new})
        self.metrics.messages_received.inc(len(counts))
        self.metrics.messages_new.inc(len(new))
        return len(counts), len(new), queued

    @property
    def table_id(self) -> str:
        return self._require_store().table_id

    def rewards_since(self, version: int) -> tuple[int, bool, dict[str, float]]:
        full = version <= 0 or version > self.table.version
        return self.table.version, full, self.table.since(version)

    def score(self, texts: list[str]) -> list[ScoreRow]:
        rows = []
        for text in texts:
            reward = self.model.reward(text)
            rows.append(
                ScoreRow(
                    message=text,
                    reward=reward if reward is not None else 0.0,
                    labelled=reward is not None,
                    score=self.model.score(text),
                )
            )
        return rows

    def stats(self) -> StatsOut:
        return StatsOut(
            llm=self.config.llm,
            goal=self.config.goal,
            label_mode=self.config.label_mode,
            reward_model=self.config.reward_model,
            prompt_version=self.key.prompt_version,
            messages=self._message_count,
            labelled=self.model.labelled,
            judged=self.annotator.stats.judged,
            queued=self.annotator.pending,
            in_flight=self.annotator.in_flight,
            unparsable=self.annotator.stats.unparsable,
            llm_failures=self.annotator.stats.llm_failures,
            deferred=self.annotator.stats.deferred,
            llm_retries=self.judge.retries,
            llm_circuit=self.judge.breaker.state,
            llm_circuit_opened=self.judge.breaker.opened,
            llm_circuit_rejected=self.judge.breaker.rejected,
            last_llm_error=self.annotator.stats.last_error,
            table_version=self.table.version,
            table_size=len(self.table.rewards),
            positive_share=self.table.positive_share(),
            threshold=self.model.calibrator.threshold,
        )

    # -------------------------------------------------------------------------- helpers
    async def _store_judgement(self, text: str, judgement: Judgement) -> None:
        """Persist one LLM answer at once: a killed server must not lose what the LLM said."""
        annotation = Annotation(text, judgement.label, judgement.score, judgement.raw)
        with self.metrics.store_latency.time():
            await self._run(self._require_store().add_annotations, self.key, [annotation])
        self.metrics.annotations.labels(outcome="parsed" if judgement.parsed else "unparsable").inc()

    async def _unannotated(self, limit: int) -> list[str]:
        return await self._run(self._require_store().unannotated, self.key, limit)

    async def _publish_judgements(self, batch: list[tuple[str, Judgement]]) -> None:
        """Fold a batch of (already stored) judgements into the model and publish the diff."""
        annotations = [Annotation(text, j.label, j.score, j.raw) for text, j in batch]
        await self._publish(self.model.add(annotations))

    async def _publish(self, proposed: Mapping[str, float]) -> None:
        changed = self.table.changed_rows(proposed)
        if not changed:
            return
        version = await self._run(self._require_store().publish, changed)
        self.table.apply(changed, version)

    def _require_store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the reward service is not started")
        return self._store

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
