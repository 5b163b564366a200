"""The reward service: store + annotator + reward model + published table, one owner.

HTTP handlers call this object and nothing else. Store calls run on a single-thread
executor: the event loop never waits on disk, and SQLite sees exactly one writer.

The reward model (``--reward-model``) is looked up in :mod:`reward_server.models.registry` and
used through its small interface (:class:`~reward_server.models.base.RewardModel`): what it
learns from (labels, pairs or nothing) decides what the annotator asks the LLM; the model says
what messages are worth and, if it learns, hands its learner to the background trainer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from reward_server.config import ServerConfig
from reward_server.judging.annotator import Annotator
from reward_server.judging.judge import JudgeConfig, Judgement, LLMJudge, LLMPreflightFailed
from reward_server.judging.prompts import (
    LABEL_WORDS,
    calibration_examples,
    goal_text,
    judge_calibration,
    prompt_version,
    ranking_prompt_version,
)
from reward_server.models.base import ModelContext
from reward_server.models.calibration import ThresholdCalibrator, cut_above_counterexamples, evidence_cut
from reward_server.models.labels import Labels
from reward_server.models.registry import build_reward_model
from reward_server.models.trainer import Trainer
from reward_server.schemas import PaidOut, PaidRow, ScoreRow, StatsOut
from reward_server.serial import SerialThread
from reward_server.service.metrics import ServerMetrics
from reward_server.service.paid_watch import PaidShareWatch
from reward_server.service.reward_table import RewardTable
from reward_server.service.snapshots import Snapshot, TableSnapshots
from reward_server.storage.store import Annotation, AnnotationKey, Store, StoredPreference

logger = logging.getLogger(__name__)
T = TypeVar("T")


def judge_config(config: ServerConfig) -> JudgeConfig:
    """The judge's settings, taken from the server's by name (benchmarks use it to judge alike)."""
    values = {f.name: getattr(config, f.name) for f in fields(JudgeConfig) if hasattr(config, f.name)}
    return JudgeConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def annotation_key(config: ServerConfig) -> AnnotationKey:
    """The question a server with these settings asks about each message (its answers' key)."""
    return _question_key(config, prompt_version(
        config.label_mode, config.goal_spec, config.prompt_style, LABEL_WORDS[config.label_words],  # type: ignore[arg-type]
        bool(config.decompose), plain_text=config.endpoint == "completion",
    ))


def ranking_key(config: ServerConfig) -> AnnotationKey:
    """The question a ranking server asks about each pair of messages (its preferences' key)."""
    return _question_key(config, ranking_prompt_version(config.label_mode, config.goal_spec, config.prompt_style))


def _question_key(config: ServerConfig, version: str) -> AnnotationKey:
    return AnnotationKey(goal=config.goal, prompt_version=version, model=config.llm, label_mode=config.label_mode)


class RewardService:
    def __init__(self, config: ServerConfig, judge: LLMJudge | None = None) -> None:
        self.config = config
        #: the goal with its examples, built once: every question and calibration message is under it
        self.goal = config.goal_spec
        self._counterexamples = frozenset(self.goal.counterexamples)
        self.judge = judge or LLMJudge(judge_config(config))
        self.key = annotation_key(config)
        self.rank_key = ranking_key(config)
        self.table = RewardTable(max_log_rows=config.change_log_rows, max_delta_rows=config.max_delta_rows)
        self.snapshots: TableSnapshots | None = None
        #: the LLM's label of every message asked about, under this server's question
        self.labels = Labels(
            ThresholdCalibrator(
                config.calibration,
                fixed_threshold=config.threshold,
                positive_share=config.positive_share,
            ),
            never_helpful=self._counterexamples,
        )
        self.model = build_reward_model(config.reward_model, ModelContext(
            settings=config, labels=self.labels, goal_text=goal_text(self.goal),
            calibration=calibration_examples(self.goal),
        ))
        self.source = self.model.source
        #: whether messages are sent to the LLM (not for a model that needs none, nor offline)
        self.asks_llm = self.source != "none" and not config.offline
        self.learner = self.model.learner
        self.trainer: Trainer[Any] | None = None
        annotator_options = {
            "concurrency": config.concurrency,
            "batch_size": config.batch_size,
            "max_queue": config.max_queue,
        }
        self.annotator: Annotator[Any]
        if self.source == "pairs":
            self.annotator = Annotator(
                self._compare, self._store_preference, self._take_preferences, self._under_compared,
                **annotator_options,
            )
        else:
            self.annotator = Annotator(
                self._judge, self._store_judgement, self._publish_judgements, self._unannotated,
                **annotator_options,
            )
        if self.learner is not None:
            self.trainer = Trainer(
                self.learner,
                self.model.training_data,
                self._publish,
                self._save_checkpoint,
                every=config.train_every,
                interval=config.train_interval,
            )
        #: the share of recent reports the table pays, for a model that means to pay a few messages
        self.paid_watch = (PaidShareWatch(config.paid_share_window, config.paid_share_warning)
                           if self.model.selective else None)
        self.metrics = ServerMetrics(self.stats)
        self._store_thread = SerialThread("oni-store")
        self._store: Store | None = None
        self._message_count = 0
        self._calibration_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Open the store and rebuild table and model from it while the LLM is loaded and asked
        its preflight question (the two overlap: at a million messages each takes seconds), then
        set the cut, publish, and re-queue what is unannotated."""
        started = time.monotonic()
        llm_ready = asyncio.create_task(self._ready_llm())
        created = not Path(self.config.store).exists()
        try:
            self._store = await self._run(Store, self.config.store)
            store = self._store
            self.snapshots = TableSnapshots(self.config.store, store.table_id, self.config.snapshot_max_age)
            rows = await self._run(lambda: list(store.reward_rows()))
            version = await self._run(store.table_version)
            self.table.load(rows, version)
            del rows
            self._message_count = await self._run(store.message_count)
            checkpoint = await self._run(store.load_checkpoint, self._checkpoint_name) if self.learner else None
            labels = await self._load_labels(store) if self.source == "labels" else None
            examples = await self._load_preferences(store) if self.source == "pairs" else 0
            await llm_ready
        except BaseException:
            llm_ready.cancel()
            await self._discard_store(created)
            raise
        # a table stored before the counterexamples were named may pay them; no later path republishes every row
        await self._publish({text: 0.0 for text in self._counterexamples if self.table.rewards.get(text, 0.0)})
        await self._calibrate()
        if labels is not None:
            examples = await self._publish_labels(*labels, serve_labels=checkpoint is None)
        elif self.source == "none":
            messages = await self._run(store.messages_in_order)
            await self._publish(await asyncio.to_thread(self.model.unlabelled_rewards, messages))
            logger.info("store %s: %d messages, table v%d (%s asks the LLM nothing)", self.config.store,
                        self._message_count, self.table.version, self.config.reward_model)
        if self.trainer is not None:
            messages = await self._run(store.messages_in_order)
            await self.trainer.start(messages, checkpoint[1] if checkpoint else None)
            # refit on what the store holds: answers may have landed after the last checkpoint
            self.trainer.notify(examples)
        if self.asks_llm:
            await self.annotator.start()
        logger.info("started in %.1fs", time.monotonic() - started)

    async def _ready_llm(self) -> None:
        if self.source == "none":
            return  # the model asks the LLM nothing: not even loaded
        await self.judge.caller.load()
        if self.config.preflight and self.asks_llm:  # offline: the LLM is only asked to calibrate, if at all
            await self._preflight()

    async def _discard_store(self, created: bool) -> None:
        """After a failed start: close the store, and remove it if this start created it."""
        if self._store is not None:
            await self._run(self._store.close)
            self._store = None
        if created:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.config.store}{suffix}").unlink(missing_ok=True)

    async def _preflight(self) -> None:
        report = await self.judge.preflight(self.goal)
        where = f" at {', '.join(self.config.api_base)}" if self.config.api_base else ""
        if report.outcome == "fatal":
            raise LLMPreflightFailed(f"--llm {self.config.llm}{where} cannot label: {report.detail}")
        if report.outcome == "warn":
            logger.warning("LLM preflight (%s%s): %s; starting anyway", self.config.llm, where, report.detail)
        else:
            logger.info("LLM preflight (%s%s, %s endpoint) in %.1fs: %s", self.config.llm, where,
                        self.config.endpoint, report.seconds, report.detail)

    async def _calibrate(self) -> None:
        """Set the log-odds cut from the judge's scores of the labelled calibration messages.

        Scored once per question and kept in the store's meta table, so a restart costs no LLM
        call. If the LLM cannot answer now, the server starts with ``--threshold`` and retries in
        the background; the moment the cut is known, the labels it flips are republished.
        """
        if self.config.label_mode != "logprob" or self.config.calibration != "examples" or self.source != "labels":
            return
        try:
            await self._set_evidence()
        except Exception as exc:  # noqa: BLE001 - the server can run on the fallback cut meanwhile
            logger.warning("could not score the calibration messages (%s); cut %+.2f until they are",
                           exc, self.config.threshold)
            self._calibration_task = asyncio.create_task(self._calibrate_later())

    async def _calibrate_later(self, every: float = 30.0) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self._set_evidence()
            except Exception as exc:  # noqa: BLE001 - keep trying
                logger.warning("calibration messages still not scored: %s", exc)
                continue
            flipped = self.labels.rethreshold()
            if self.model.serves_labels():
                await self._publish(flipped)
            if self.trainer is not None:  # the labels it learns from moved: refit now
                self.trainer.notify(self.trainer.every)
            return

    async def _set_evidence(self) -> None:
        examples = judge_calibration(self.goal)
        digest = hashlib.sha256(json.dumps(examples).encode()).hexdigest()[:10]
        key = self.key
        name = f"calibration|{key.goal}|{key.prompt_version}|{key.model}|{key.label_mode}|{digest}"
        store = self._require_store()
        cached = await self._run(store.get_meta, name)
        if cached is not None:
            scores = json.loads(cached)
        else:
            scores = [(await self.judge.judge(message, self.goal)).score for message, _ in examples]
            await self._run(store.set_meta, name, json.dumps(scores))
        helpful = [s for s, (_, v) in zip(scores, examples, strict=True) if v and s is not None]
        unhelpful = [s for s, (_, v) in zip(scores, examples, strict=True) if not v and s is not None]
        if any(v for _, v in examples) and not helpful:  # a preset's helpful side went unscored: not a text goal
            raise ValueError("no helpful calibration message got a score")
        balance = evidence_cut(helpful, unhelpful)
        named = self._counterexamples
        # the table's stored answers may be on a slightly different scale than this call's (LLM noise):
        # a counterexample's stored score counts too, so a neighbour answered beside it stays below the cut
        cut = cut_above_counterexamples(balance, [s for s, (m, _) in zip(scores, examples, strict=True)
                                                  if m in named and s is not None]
                                        + [s for m in named if (s := self.labels.score(m)) is not None])
        self.labels.calibrator.evidence = cut
        logger.info("log-odds cut %+.2f from %d helpful and %d unhelpful calibration messages%s%s", cut,
                    len(helpful), len(unhelpful), " (kept in the store)" if cached is None else " (from the store)",
                    f"; raised from {balance:+.2f} to the counterexamples' scores" if cut > balance else "")

    async def _load_labels(self, store: Store) -> tuple[dict[str, float], list[str], int]:
        """This question's answers into the labels; the messages still unanswered."""
        rows = await self._run(store.label_rows, self.key)
        unannotated = await self._run(store.unannotated, self.key)
        # Re-derive every reward from this question's annotations: a restart with another
        # goal, model or threshold must not keep serving the previous labels.
        proposed = self.labels.add(rows)
        return proposed, unannotated, len(rows)

    async def _publish_labels(self, proposed: dict[str, float], unannotated: list[str], answered: int,
                              serve_labels: bool) -> int:
        """Publish what the stored answers say (with the cut now set) and queue the rest;
        returns the training examples they give the model."""
        if self.asks_llm:
            backlog = len(unannotated) - self.config.max_queue
            self.annotator.enqueue(unannotated[max(0, backlog):])  # newest first, as always
            if backlog > 0:
                self.annotator.defer(backlog)  # the oldest wait in the store for a refill
        proposed |= self.labels.rethreshold()  # the cut the calibration just set
        # the model learns from the labels once the cut is final
        examples = self.model.take_labels([text for text in proposed if self.labels.reward(text) is not None])
        # A learned model's checkpoint serves its own table (restored by the trainer)
        await self._publish(self.model.unlabelled_rewards(unannotated) | (proposed if serve_labels else {}))
        logger.info(
            "store %s: %d messages, %d annotations for this question, %d %s, table v%d",
            self.config.store, self._message_count, answered, len(unannotated),
            "re-queued" if self.asks_llm else "unlabelled (offline: not asked)", self.table.version,
        )
        return examples

    async def _load_preferences(self, store: Store) -> int:
        stored = await self._run(lambda: list(store.preferences(self.rank_key)))
        examples = self.model.take_preferences(stored)
        self.model.sampler.observe(await self._run(store.messages_in_order))
        if self.asks_llm:
            self.annotator.defer(0)  # under-compared messages get their pairs from the store
        logger.info(
            "store %s: %d messages, %d preferences for this question, table v%d",
            self.config.store, self._message_count, len(stored), self.table.version,
        )
        return examples

    async def stop(self) -> None:
        if self._calibration_task is not None:
            self._calibration_task.cancel()
        await self.annotator.stop()
        if self.trainer is not None:
            await self.trainer.stop()
        await self.judge.aclose()
        if self.snapshots is not None:
            self.snapshots.close()
        if self._store is not None:
            await self._run(self._store.close)
            self._store = None
        self._store_thread.shutdown()

    # ------------------------------------------------------------------------ API calls
    async def ingest(self, counts: Mapping[str, int]) -> tuple[int, int, int]:
        """Record message reports; returns (accepted, new to the store, newly queued).

        What this server has not published yet is handled as new even when the store knew it
        (messages that reached the store some other way, such as an import): its stored answers
        are served, the rest queued, so no reported message stays unpublished and unasked.
        """
        store = self._require_store()
        new = await self._run(store.add_messages, counts)
        self._message_count += len(new)
        fresh = [text for text in counts if text not in self.table.rewards]
        if not fresh:
            self._count_reports(counts, new)
            return len(counts), len(new), 0
        unanswered = fresh
        if self.source == "labels" and len(fresh) > len(new):
            unanswered = await self._serve_stored_labels(fresh, set(new))
        queued = 0
        if self.source == "pairs":
            sampler = self.model.sampler
            sampler.observe(fresh)
            if self.asks_llm:
                queued = self.annotator.enqueue(sampler.pairs_for(fresh))
        elif self.asks_llm:
            queued = self.annotator.enqueue(unanswered)
        # Publishing tells clients the server has them, so they stop resending (unlabelled
        # messages pay what the model says: 0 for the label-based ones).
        # off the loop: a model may compute (ellm-bow embeds every message)
        await self._publish(await asyncio.to_thread(self.model.unlabelled_rewards, unanswered))
        if self.trainer is not None:
            self.trainer.observe(fresh)  # a fitted model rewards them at once
        self._count_reports(counts, new)
        return len(counts), len(new), queued

    async def _serve_stored_labels(self, fresh: list[str], new: set[str]) -> list[str]:
        """Fold the store's answers about ``fresh`` messages it already held into the labels and
        publish them; returns the fresh messages without an answer."""
        known = [text for text in fresh if text not in new]
        rows = await self._run(self._require_store().label_rows_of, self.key, known)
        if rows:
            await self._take_labels([Annotation(text, label, score, "") for text, label, score in rows])
        answered = {row[0] for row in rows}
        return [text for text in fresh if text not in answered]

    def _count_reports(self, counts: Mapping[str, int], new: list[str]) -> None:
        self.metrics.messages_received.inc(len(counts))
        self.metrics.messages_new.inc(len(new))
        if self.paid_watch is not None:
            rewards = self.table.rewards
            if (block := self.paid_watch.add(counts, lambda text: rewards.get(text, 0.0) > 0.0)) is not None:
                logger.warning(block.warning())

    @property
    def table_id(self) -> str:
        return self._require_store().table_id

    def rewards_since(self, version: int) -> dict[str, float] | None:
        """Rows changed after ``version``, or ``None``: the client needs :meth:`full_table`."""
        return self.table.since(version)

    async def full_table(self) -> Snapshot:
        """The whole table, prepared off the event loop (see snapshots.py)."""
        assert self.snapshots is not None, "the reward service is not started"
        return await self.snapshots.get(self.table.version)

    async def score(self, texts: list[str]) -> list[ScoreRow]:
        """The current model's reward for any messages, seen or not (nothing is stored)."""
        if self.trainer is not None:
            rewards: list[float | None] = list(await self.trainer.rewards(texts))
        else:
            rewards = await asyncio.to_thread(self.model.rewards, texts)
        return [
            ScoreRow(
                message=text,
                reward=reward if reward is not None and text not in self._counterexamples else 0.0,
                labelled=self.labels.reward(text) is not None,
                score=self.labels.score(text),
            )
            for text, reward in zip(texts, rewards, strict=True)
        ]

    async def paid(self, limit: int) -> PaidOut:
        """The messages the table pays, the most often reported first, and the share of reports
        they make up: what to read before a long run. A message listed here that is not progress
        on the user's task is a ``--goal-counterexample``. Read in one store call, off the loop."""
        rows, paid_messages, paid_reports, reports = await self._run(self._require_store().most_reported_paid, limit)
        threshold = self.labels.calibrator.threshold if self.source == "labels" and self.model.serves_labels() else None
        return PaidOut(
            version=self.table.version, threshold=threshold, paid_messages=paid_messages,
            paid_share=paid_reports / reports if reports else 0.0,
            messages=[PaidRow(message=t, count=c, reward=r, score=self.labels.score(t)) for t, c, r in rows],
        )

    def stats(self) -> StatsOut:
        return StatsOut(
            llm=self.config.llm,
            goal=self.config.goal,
            goal_examples=list(self.config.goal_example),
            goal_counterexamples=list(self.config.goal_counterexample),
            label_mode=self.config.label_mode,
            reward_model=self.config.reward_model,
            prompt_version=self.key.prompt_version,
            messages=self._message_count,
            labelled=self.labels.labelled,
            preferences=self.model.preference_count,
            judged=self.annotator.stats.judged,
            queued=self.annotator.pending,
            in_flight=self.annotator.in_flight,
            unparsable=self.annotator.stats.unparsable,
            llm_failures=self.annotator.stats.llm_failures,
            llm_rejected=self.annotator.stats.rejected,
            malformed_replies=self.judge.malformed,
            worker_errors=self.annotator.stats.worker_errors,
            workers_alive=self.annotator.workers_alive,
            deferred=self.annotator.stats.deferred,
            llm_retries=self.judge.retries,
            llm_circuit=self.judge.breaker.state,
            llm_circuit_opened=self.judge.breaker.opened,
            llm_circuit_rejected=self.judge.breaker.rejected,
            last_llm_error=self.annotator.stats.last_error,
            table_version=self.table.version,
            table_size=len(self.table.rewards),
            change_log_rows=self.table.log_rows,
            change_log_evicted_rows=self.table.log_evicted_rows,
            snapshots_built=self.snapshots.built if self.snapshots else 0,
            snapshot_rows=latest.rows if (latest := self.snapshots and self.snapshots.latest) else None,
            snapshot_gzip_bytes=len(latest.gzip) if latest else None,
            snapshot_seconds=latest.seconds if latest else None,
            part_cache_entries=self.judge.part_cache_entries,
            part_cache_evicted=self.judge.parts_evicted,
            positive_share=self.table.positive_share(),
            recent_paid_share=self.paid_watch.share if self.paid_watch else None,
            threshold=self.labels.calibrator.threshold,
            **self._learner_stats(),
        )

    def health(self) -> list[str]:
        """Why the server cannot do its job right now (empty: healthy)."""
        reasons = []
        if self.asks_llm and self.annotator.workers_alive == 0:
            reasons.append("no annotator worker is running: nothing gets labelled")
        open_for = self.judge.breaker.open_for()
        if open_for > self.config.degraded_after:
            reasons.append(f"the LLM circuit breaker has been open for {open_for:.0f}s: "
                           f"last error {self.annotator.stats.last_error}")
        return reasons

    def _learner_stats(self) -> dict[str, Any]:
        if self.trainer is None or self.learner is None:
            return {}
        report = self.learner.report
        return {
            "model_version": self.learner.version,
            "fits": self.trainer.fits,
            "fit_failures": self.trainer.failures,
            "publish_failures": self.trainer.publish_failures,
            "feature_cache_rows": len(self.learner.features),
            "feature_cache_evicted": self.learner.features.offset,
            "checkpoint_failures": self.trainer.checkpoint_failures,
            "train_examples": report.examples if report else 0,
            "train_accuracy": report.train_accuracy if report else None,
            "heldout_accuracy": report.heldout_accuracy if report else None,
            "last_fit_seconds": report.seconds if report else None,
        }

    # -------------------------------------------------------------------------- helpers
    async def _store_judgement(self, text: str, judgement: Judgement) -> None:
        """Persist one LLM answer at once: a killed server must not lose what the LLM said."""
        annotation = Annotation(text, judgement.label, judgement.score, judgement.raw)
        with self.metrics.store_latency.time():
            await self._run(self._require_store().add_annotations, self.key, [annotation])
        self.metrics.annotations.labels(outcome="parsed" if judgement.parsed else "unparsable").inc()

    async def _judge(self, text: str) -> Judgement:
        return await self.judge.judge(text, self.goal)

    async def _compare(self, pair: tuple[str, str]) -> Judgement:
        return await self.judge.compare(pair[0], pair[1], self.goal)

    async def _store_preference(self, pair: tuple[str, str], judgement: Judgement) -> None:
        preference = StoredPreference(pair[0], pair[1], judgement.label, judgement.score, judgement.raw)
        with self.metrics.store_latency.time():
            await self._run(self._require_store().add_preferences, self.rank_key, [preference])
        self.metrics.annotations.labels(outcome="parsed" if judgement.parsed else "unparsable").inc()

    async def _take_preferences(self, batch: list[tuple[tuple[str, str], Judgement]]) -> None:
        new = [StoredPreference(a, b, j.label, j.score, j.raw) for (a, b), j in batch if j.parsed]
        examples = self.model.take_preferences(new)
        if self.trainer is not None:
            self.trainer.notify(examples)

    async def _under_compared(self, limit: int) -> list[tuple[str, str]]:
        store = self._require_store()
        missing = await self._run(store.under_compared, self.rank_key, self.config.pairs_per_message, limit)
        return self.model.sampler.pairs_for(list(missing)[::-1], missing)  # newest last = asked first

    @property
    def _checkpoint_name(self) -> str:
        return self.model.checkpoint_name("|".join(self.rank_key if self.source == "pairs" else self.key))

    async def _save_checkpoint(self, version: int, state: bytes) -> None:
        await self._run(self._require_store().save_checkpoint, self._checkpoint_name, version, state)

    async def _unannotated(self, limit: int) -> list[str]:
        return await self._run(self._require_store().unannotated, self.key, limit)

    async def _publish_judgements(self, batch: list[tuple[str, Judgement]]) -> None:
        """Fold a batch of (already stored) judgements into the model and publish the diff."""
        await self._take_labels([Annotation(text, j.label, j.score, j.raw) for text, j in batch])

    async def _take_labels(self, annotations: list[Annotation]) -> None:
        proposed = self.labels.add(annotations)
        if self.model.serves_labels():
            await self._publish(proposed)  # a learned model serves the labels until its first fit
        examples = self.model.take_labels([a.text for a in annotations])
        if self.trainer is not None:
            self.trainer.notify(examples)

    async def _publish(self, proposed: Mapping[str, float]) -> None:
        if self._counterexamples:  # the user's word: never paid, whatever a model makes of them
            proposed = {text: 0.0 if text in self._counterexamples else reward for text, reward in proposed.items()}
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
        """``fn(*args)`` on the store's thread (SQLite sees one writer; the loop never waits)."""
        return await self._store_thread.run(fn, *args)
