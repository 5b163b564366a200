"""The annotation queue: messages wait here until the LLM judges them.

Newest first: when agents produce messages faster than the LLM labels them, the freshest ones
are what the current policy is seeing, so they are labelled first (as the reference does).
``concurrency`` workers keep that many LLM requests in flight — an inference server such as
vLLM batches concurrent requests itself. Each judgement is persisted the moment it returns
(``persist``: one small store transaction), so a killed server loses no answer it was given;
publishing to the reward table is batched (``batch_size`` or every ``flush_interval``
seconds), so each batch costs one table version.

A message whose LLM call fails after the judge's retries goes back to the *old* end of the
queue and the worker pauses, so a dead LLM costs a slow retry loop, never a lost message. A
request the LLM refuses for good (:class:`~reward_server.judging.judge.LLMRejected`, an HTTP 400) is
stored as a failed answer with its reason and never asked again. Any other exception is
counted, the item re-queued, and the worker lives on: a worker that died would leave its item
marked queued forever and, after ``concurrency`` such deaths, labelling stopped with the server
still answering ``/healthz``.

The in-memory queue holds at most ``max_queue`` messages. Every message is in the store
anyway, so one that arrives at a full queue is only *deferred*: when the queue runs dry the
annotator ``refill``s it from the store's unannotated messages, newest first.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from reward_server.judging.judge import Judgement, LLMCircuitOpen, LLMRejected, LLMUnavailable
from reward_server.serial import woken_or_timed_out

logger = logging.getLogger(__name__)

#: What is asked about: a message (labels) or a pair of messages (preferences).
Item = TypeVar("Item", bound=Hashable)
Ask = Callable[[Item], Awaitable[Judgement]]
ResultSink = Callable[[list[tuple[Item, Judgement]]], Awaitable[None]]
Persist = Callable[[Item, Judgement], Awaitable[None]]
Refill = Callable[[int], Awaitable[list[Item]]]


@dataclass
class AnnotatorStats:
    judged: int = 0
    unparsable: int = 0
    llm_failures: int = 0
    rejected: int = 0  # requests the LLM refused for good (stored as failed answers)
    worker_errors: int = 0  # unexpected exceptions in a worker (the item was re-queued)
    deferred: int = 0  # messages that found the queue full (they wait in the store)
    last_error: str | None = None


class Annotator(Generic[Item]):
    """Asks ``ask(item)`` for every queued item (a message, or a pair for the ranking model)."""

    def __init__(
        self,
        ask: Ask[Item],
        persist: Persist[Item],
        on_results: ResultSink[Item],
        refill: Refill[Item],
        *,
        concurrency: int = 4,
        batch_size: int = 32,
        flush_interval: float = 0.5,
        failure_pause: float = 2.0,
        max_queue: int = 1_000_000,
    ) -> None:
        self._ask = ask
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.failure_pause = failure_pause
        self.max_queue = max_queue
        self.stats = AnnotatorStats()
        self._persist = persist
        self._on_results = on_results
        self._refill = refill
        self._store_has_more = False  # some messages were deferred to the store
        self._refilling = False  # a worker is reading the store back into the queue
        self._queue: collections.deque[Item] = collections.deque()
        self._queued: set[Item] = set()
        self._in_flight = 0
        self._results: list[tuple[Item, Judgement]] = []
        self._has_work = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def enqueue(self, texts: Iterable[Item]) -> int:
        """Queue items (newest last); returns how many were not already queued."""
        added = 0
        for text in texts:
            if text in self._queued:
                continue
            if len(self._queue) >= self.max_queue:
                self.defer(1)
                continue
            self._queued.add(text)
            self._queue.append(text)
            added += 1
        if added:
            self._has_work.set()
        return added

    def defer(self, count: int) -> None:
        """Note ``count`` stored messages left out of the full queue; a refill fetches them."""
        self.stats.deferred += count
        self._store_has_more = True

    @property
    def workers_alive(self) -> int:
        """Worker tasks still running (0 with work queued means labelling has stopped)."""
        return sum(1 for task in self._tasks[: self.concurrency] if not task.done())

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._supervised(i)) for i in range(self.concurrency)]
        self._tasks.append(asyncio.create_task(self._committer()))

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop workers (their messages stay unannotated in the store) and flush results.

        Workers also check a stop flag, so a cancellation lost in a library (as 3.11's
        ``wait_for`` can lose one) cannot keep a worker alive and hang the shutdown.
        """
        self._stopping = True
        self._has_work.set()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _, stuck = await asyncio.wait(self._tasks, timeout=timeout)
            if stuck:
                logger.error("%d annotator tasks did not stop within %.0fs", len(stuck), timeout)
        self._tasks = []
        await self._flush()

    async def idle(self, timeout: float) -> bool:
        """Wait until nothing is queued, in flight, unflushed or waiting in the store; False on timeout.

        A refill in progress counts as work: its queue is briefly empty while the store is read.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._queue or self._in_flight or self._results or self._store_has_more or self._refilling:
            if loop.time() > deadline:
                return False
            self._flush_now.set()
            await asyncio.sleep(0.02)
        return True

    async def _supervised(self, index: int) -> None:
        """Run worker ``index``; whatever escapes it is counted and the worker starts again."""
        while not self._stopping:
            try:
                await self._worker(index)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a worker must outlive any failure
                self.stats.worker_errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("annotator worker %d failed; restarting it", index)
                await asyncio.sleep(self.failure_pause)

    async def _worker(self, index: int) -> None:
        while not self._stopping:
            if not self._queue and self._store_has_more:
                await self._refill_from_store()
            if not self._queue:
                self._has_work.clear()
                await self._has_work.wait()
                continue
            text = self._queue.pop()  # newest first
            self._in_flight += 1
            failure: LLMUnavailable | None = None
            try:
                judgement = await self._ask(text)
            except LLMUnavailable as exc:
                failure = exc
            except LLMRejected as exc:
                self.stats.rejected += 1
                logger.warning("the LLM refused the request for %s (stored as failed): %s", _describe(text), exc)
                judgement = Judgement(None, None, f"rejected by the LLM: {exc}")
            except asyncio.CancelledError:
                self._queue.appendleft(text)
                raise
            except Exception as exc:  # e.g. a bug in a prompt or parser: keep the item
                self.stats.worker_errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("asking about %s failed unexpectedly; re-queued", _describe(text))
                self._queue.appendleft(text)
                await asyncio.sleep(self.failure_pause)
                continue
            finally:
                self._in_flight -= 1
            if isinstance(failure, LLMCircuitOpen):
                # not a new failure: the LLM is known to be down; wait for the breaker's probe
                self._queue.append(text)
                await asyncio.sleep(max(failure.retry_in, 0.5))
                continue
            if failure is not None:
                self.stats.llm_failures += 1
                self.stats.last_error = str(failure)
                logger.warning("LLM failed on %s (re-queued): %s", _describe(text), failure)
                self._queue.appendleft(text)
                await asyncio.sleep(self.failure_pause)
                continue
            try:
                await self._persist(text, judgement)
            except Exception:
                logger.exception("could not store the judgement of %s; re-queued", _describe(text))
                self._queue.appendleft(text)
                await asyncio.sleep(self.failure_pause)
                continue
            self._queued.discard(text)
            self.stats.judged += 1
            if not judgement.parsed:
                self.stats.unparsable += 1
            self._results.append((text, judgement))
            if len(self._results) >= self.batch_size:
                self._flush_now.set()

    async def _refill_from_store(self) -> None:
        self._store_has_more = False  # set first: one worker refills, the others wait for work
        self._refilling = True
        try:
            texts = await self._refill(self.max_queue)
        except Exception:
            logger.exception("could not refill the annotation queue from the store; will retry")
            self._store_has_more = True
            await asyncio.sleep(self.failure_pause)
            return
        finally:
            self._refilling = False
        # what is in flight right now comes back too; enqueue skips it
        self.enqueue(texts)
        if len(texts) >= self.max_queue:
            self._store_has_more = True  # possibly more behind these

    async def _committer(self) -> None:
        while not self._stopping:
            await woken_or_timed_out(self._flush_now, self.flush_interval)
            await self._flush()

    async def _flush(self) -> None:
        if not self._results:
            return
        batch, self._results = self._results, []
        try:
            await self._on_results(batch)
        except Exception:
            logger.exception("could not publish %d annotations; keeping them for the next flush", len(batch))
            self._results[:0] = batch


def _describe(item: Hashable) -> str:
    return repr(item)[:120]
