"""Background link between wrappers and the reward server.

The env step path must never wait on the network, so everything networked happens here, in
one daemon thread per (process, server): it ships newly seen messages (and per-episode
occurrence counts) in batches and pulls reward-table deltas by version. Wrappers only read
``client.table`` — a plain dict that this thread *replaces* (never mutates while readers may
iterate), so no lock is taken on the step path.

If the server is down the client keeps the last table, keeps a bounded buffer of unsent
messages (oldest dropped, counted) and retries with backoff; nothing raises into the env.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

logger = logging.getLogger(__name__)


@dataclass
class ClientStats:
    """Counters a user can read to see whether the link to the server is healthy."""

    messages_sent: int = 0
    messages_dropped: int = 0
    syncs: int = 0
    full_syncs: int = 0
    errors: int = 0
    last_error: str | None = None
    connected: bool = False
    #: Seconds taken by the most recent requests to the server (POSTs and table syncs).
    latencies: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=4096))


class RewardClient:
    """Ships messages to a reward server and mirrors its versioned reward table.

    Use :meth:`shared` to get the one client per process and server URL that every wrapper in
    the process should share (one thread, one table, one connection pool).
    """

    _registry: dict[tuple[int, str], RewardClient] = {}
    _registry_lock = threading.Lock()

    def __init__(
        self,
        server_url: str,
        *,
        sync_interval: float = 1.0,
        batch_size: int = 512,
        max_pending: int = 100_000,
        timeout: float = 5.0,
        token: str | None = None,
        max_backoff: float = 30.0,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.sync_interval = sync_interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        self.timeout = timeout
        #: Longest wait between reconnection attempts while the server is away.
        self.max_backoff = max_backoff
        self.token = token if token is not None else os.environ.get("ONI_TOKEN")
        #: message → intrinsic reward; replaced wholesale by the sync thread, read lock-free.
        self.table: dict[str, float] = {}
        self.version = 0
        #: Identity of the server's table the version refers to (see the server's store).
        self.table_id: str | None = None
        self.stats = ClientStats()
        self._submitted: set[str] = set()
        self._new_messages: collections.deque[str] = collections.deque()
        self._counts: collections.Counter[str] = collections.Counter()
        self._counts_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    # ----------------------------------------------------------------- construction helpers
    @classmethod
    def shared(cls, server_url: str, **kwargs: object) -> RewardClient:
        """The process-wide client for ``server_url``, created and started on first use.

        Keyed by PID so a forked worker never reuses its parent's (threadless) client.
        """
        key = (os.getpid(), server_url.rstrip("/"))
        with cls._registry_lock:
            client = cls._registry.get(key)
            if client is None:
                client = cls(server_url, **kwargs)  # type: ignore[arg-type]
                cls._registry[key] = client
        client.ensure_running()
        return client

    def __reduce__(self) -> tuple:
        # Pickling a client (e.g. inside an env sent to a subprocess) recreates a fresh one
        # on the other side; threads, sockets and the table never cross a process boundary.
        return (
            _rebuild_shared_client,
            (
                self.server_url,
                dict(
                    sync_interval=self.sync_interval,
                    batch_size=self.batch_size,
                    max_pending=self.max_pending,
                    timeout=self.timeout,
                    token=self.token,
                    max_backoff=self.max_backoff,
                ),
            ),
        )

    # ------------------------------------------------------------------- step-path API
    def observe(self, message: str) -> None:
        """Note a message that is not in the table yet. Cheap: a set check and a deque append."""
        if message in self._submitted:
            return
        self._submitted.add(message)
        if len(self._new_messages) >= self.max_pending:
            # Drop the oldest unsent message but forget we saw it, so it is sent if seen again.
            self._submitted.discard(self._new_messages.popleft())
            self.stats.messages_dropped += 1
        self._new_messages.append(message)

    # ------------------------------------------------------------------ reset-path API
    def record_episode(self, counts: Mapping[str, int]) -> None:
        """Add one finished episode's message counts (sent with the next batch)."""
        if not counts:
            return
        with self._counts_lock:
            self._counts.update(counts)
            overflow = len(self._counts) - self.max_pending
            if overflow > 0:  # keep memory bounded if the server stays away for long
                for key in list(self._counts)[:overflow]:
                    del self._counts[key]
                self.stats.messages_dropped += overflow

    # ------------------------------------------------------------------------ lifecycle
    def ensure_running(self) -> None:
        """Start the sync thread if it is not running in this process (also after a fork)."""
        if self._pid != os.getpid():
            # Forked copy: the parent's thread does not exist here; start clean.
            self._pid = os.getpid()
            self._thread = None
            self._stop = threading.Event()
            self._wake = threading.Event()
            self._counts_lock = threading.Lock()
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name=f"oni-reward-client:{self.server_url}", daemon=True
            )
            self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until pending messages are sent and the table synced once; False on timeout.

        Not for the step path: meant for tests, evaluation and shutdown.
        """
        deadline = time.monotonic() + timeout
        target = self.stats.syncs + 1
        while time.monotonic() < deadline:
            self._wake.set()
            if not self._new_messages and not self._counts and self.stats.syncs >= target:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        """Stop the thread after one last attempt to send what is pending."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=self.timeout + 1)
        with self._registry_lock:
            key = (os.getpid(), self.server_url)
            if self._registry.get(key) is self:
                del self._registry[key]

    # ---------------------------------------------------------------------- the thread
    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        backoff = self.sync_interval
        with httpx.Client(base_url=self.server_url, timeout=self.timeout, headers=headers) as http:
            while True:
                stopping = self._stop.is_set()
                try:
                    self._send_pending(http)
                    self._sync_table(http)
                    self.stats.connected = True
                    backoff = self.sync_interval
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    self.stats.errors += 1
                    self.stats.last_error = f"{type(exc).__name__}: {exc}"
                    if self.stats.connected:
                        logger.warning("reward server %s unreachable: %s", self.server_url, exc)
                    self.stats.connected = False
                    backoff = min(backoff * 2, self.max_backoff)
                if stopping:
                    return
                delay = self.sync_interval if self.stats.connected else backoff
                self._wake.wait(delay * random.uniform(0.8, 1.2))
                self._wake.clear()

    def _send_pending(self, http: httpx.Client) -> None:
        while self._new_messages or self._counts:
            batch = _pop_batch(self._new_messages, self.batch_size)
            with self._counts_lock:
                counts = dict(self._counts)
                self._counts.clear()
            payload = {m: 0 for m in batch}
            payload.update(counts)
            try:
                started = time.perf_counter()
                response = http.post(
                    "/v1/messages",
                    json={"messages": [{"text": m, "count": c} for m, c in payload.items()]},
                )
                self.stats.latencies.append(time.perf_counter() - started)
                response.raise_for_status()
            except httpx.HTTPStatusError as exc:
                if 400 <= exc.response.status_code < 500 and exc.response.status_code != 429:
                    # The server rejected this batch as invalid: resending cannot help.
                    logger.error("server rejected a message batch: %s", exc.response.text[:500])
                    self.stats.messages_dropped += len(payload)
                    continue
                self._requeue(batch, counts)
                raise
            except httpx.HTTPError:
                self._requeue(batch, counts)
                raise
            self.stats.messages_sent += len(payload)

    def _requeue(self, batch: list[str], counts: Mapping[str, int]) -> None:
        self._new_messages.extendleft(reversed(batch))
        with self._counts_lock:
            self._counts.update(counts)

    def _sync_table(self, http: httpx.Client) -> None:
        body = self._get_rewards(http, self.version)
        if body["table_id"] != self.table_id or body["version"] < self.version:
            # Another store behind this URL (restarted server, new run): our version numbers
            # mean nothing there. Replace the whole table.
            if self.version:
                body = self._get_rewards(http, 0)
                self.stats.full_syncs += 1
            self.table = {str(k): float(v) for k, v in body["rewards"].items()}
            self.table_id = body["table_id"]
        elif body["rewards"]:
            merged = dict(self.table)
            merged.update((str(k), float(v)) for k, v in body["rewards"].items())
            self.table = merged
        self.version = int(body["version"])
        self.stats.syncs += 1

    def _get_rewards(self, http: httpx.Client, since: int) -> dict:
        started = time.perf_counter()
        response = http.get("/v1/rewards", params={"since": since})
        self.stats.latencies.append(time.perf_counter() - started)
        response.raise_for_status()
        return response.json()


def _pop_batch(queue: collections.deque[str], size: int) -> list[str]:
    batch: list[str] = []
    while queue and len(batch) < size:
        batch.append(queue.popleft())
    return batch


def _rebuild_shared_client(server_url: str, kwargs: dict) -> RewardClient:
    return RewardClient.shared(server_url, **kwargs)

