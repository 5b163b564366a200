"""Continuous training of a learned reward model, off the event loop.

The model (classification or ranking) lives on one worker thread: every fit, every feature
encoding and every re-scoring of the table runs there, so the HTTP loop never waits on
scikit-learn and the model is never touched by two threads. A fit starts when ``every`` new
training examples have arrived, or ``interval`` seconds after the first unfitted one.

Each fit re-scores every message seen and publishes only the rows whose reward changed (the
trainer remembers what it last served per message), then checkpoints the model in the store so
a restarted server serves the same table at once and goes on training from there. A failed fit,
publication or checkpoint is counted (``/v1/stats``) and logged, and the loop goes on; after a
failed publication the trainer forgets what it served, so the next one sends every row again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from reward_server.models.features import FeatureCache
from reward_server.models.linear import FitReport
from reward_server.serial import SerialThread, woken_or_timed_out

logger = logging.getLogger(__name__)
Data = TypeVar("Data")
T = TypeVar("T")


class LearnedModel(Protocol[Data]):
    name: str
    version: int
    features: FeatureCache
    report: FitReport | None

    @property
    def fitted(self) -> bool: ...
    def fit(self, data: Data) -> FitReport | None: ...
    def table(self) -> np.ndarray: ...
    def rewards(self, texts: list[str]) -> list[float]: ...
    def state(self) -> bytes: ...
    def restore(self, state: bytes) -> None: ...


Publish = Callable[[Mapping[str, float]], Awaitable[None]]
Checkpoint = Callable[[int, bytes], Awaitable[None]]


class Trainer(Generic[Data]):
    def __init__(
        self,
        model: LearnedModel[Data],
        training_data: Callable[[], Data],
        publish: Publish,
        checkpoint: Checkpoint,
        *,
        every: int = 64,
        interval: float = 5.0,
    ) -> None:
        self.model = model
        self.every = every
        self.interval = interval
        self.fits = 0
        self.failures = 0  # fits that raised
        self.publish_failures = 0
        self.checkpoint_failures = 0
        self.unfitted = 0  # training examples that arrived since the last fit started
        self._training_data = training_data
        self._publish = publish
        self._checkpoint = checkpoint
        self._thread = SerialThread(f"oni-train-{model.name}")
        self._served = np.full(0, np.nan)  # what was last published per cached feature row ...
        self._served_offset = 0  # ... from this message number on (the cache drops its oldest rows)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._scoring: set[asyncio.Task[None]] = set()

    async def start(self, messages: list[str], state: bytes | None) -> None:
        """Encode the messages seen so far, restore a checkpoint, publish its table."""
        await self._run(self.model.features.add, messages)
        if state is not None:
            await self._run(self.model.restore, state)
            await self._publish_table()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        for task in [self._task, *self._scoring]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [self._task, *self._scoring] if t is not None), return_exceptions=True)
        self._thread.shutdown()

    def notify(self, new_examples: int) -> None:
        """New training examples (labels or preferences) are in: maybe time to refit."""
        self.unfitted += new_examples
        if self.unfitted >= self.every:
            self._wake.set()

    def observe(self, texts: list[str]) -> None:
        """Messages new to the server: encode them and, once a model exists, reward them at
        once with it — the learned models' point is rewarding what the LLM has not seen."""
        task = asyncio.create_task(self._score_new(texts))
        self._scoring.add(task)
        task.add_done_callback(self._scoring.discard)

    async def rewards(self, texts: list[str]) -> list[float]:
        return await self._run(self.model.rewards, texts)

    async def _fit(self) -> FitReport | None:
        """One fit on everything so far, then publish and checkpoint."""
        self.unfitted = 0
        data = self._training_data()
        try:
            report = await self._run(self.model.fit, data)
        except Exception:
            self.failures += 1
            logger.exception("fitting the %s reward model failed; will retry", self.model.name)
            return None
        if report is None:
            return None
        self.fits += 1
        await self._publish_table()
        try:
            await self._checkpoint(report.version, await self._run(self.model.state))
        except Exception:
            self.checkpoint_failures += 1
            logger.exception("checkpointing the %s reward model failed; the next fit tries again", self.model.name)
        logger.info(
            "%s model v%d: %d examples, train acc %s, held-out acc %s, %.1f%% positive, %.2fs",
            self.model.name, report.version, report.examples, _fmt(report.train_accuracy),
            _fmt(report.heldout_accuracy), 100 * report.positive_share, report.seconds,
        )
        return report

    # -------------------------------------------------------------------------- helpers
    async def _loop(self) -> None:
        while True:
            await woken_or_timed_out(self._wake, self.interval)
            if self.unfitted:
                try:
                    await self._fit()
                except Exception:  # a last guard: the loop must outlive any failure
                    self.failures += 1
                    logger.exception("the %s trainer's round failed; continuing", self.model.name)

    async def _score_new(self, texts: list[str]) -> None:
        await self._run(self.model.features.add, texts)
        if self.model.fitted:
            await self._publish_rows(await self._run(self._new_rows))

    async def _publish_table(self) -> None:
        await self._publish_rows(await self._run(self._changed_rows))

    async def _publish_rows(self, changed: dict[str, float]) -> None:
        if not changed:
            return
        try:
            await self._publish(changed)
        except Exception:
            self.publish_failures += 1
            logger.exception("publishing %d rows of the %s model failed; the next fit sends every row",
                             len(changed), self.model.name)
            await self._run(self._forget_served)

    def _forget_served(self) -> None:
        """(Worker thread) after a failed publication: nothing counts as served any more."""
        self._served = np.full(0, np.nan)
        self._served_offset = self.model.features.offset

    def _aligned_served(self) -> np.ndarray:
        """(Worker thread) what was served, for the rows the feature cache still holds."""
        dropped = self.model.features.offset - self._served_offset
        return self._served[dropped:] if dropped > 0 else self._served

    def _changed_rows(self) -> dict[str, float]:
        """(Worker thread) rows whose served reward differs from what this trainer last sent."""
        served = self.model.table()
        previous = np.full(len(served), np.nan)
        before = self._aligned_served()[: len(served)]
        previous[: len(before)] = before
        changed = np.flatnonzero(served != previous)
        self._served, self._served_offset = served, self.model.features.offset
        texts = self.model.features.texts
        return {texts[i]: float(served[i]) for i in changed}

    def _new_rows(self) -> dict[str, float]:
        """(Worker thread) rewards of the messages encoded since the last publication only."""
        served = self._aligned_served()
        texts = self.model.features.texts[len(served) :]
        values = np.asarray(self.model.rewards(texts), dtype=float)
        self._served = np.concatenate([served, values])
        self._served_offset = self.model.features.offset
        return dict(zip(texts, values.tolist(), strict=True))

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the model's thread: the model is only ever touched there."""
        return await self._thread.run(fn, *args)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
