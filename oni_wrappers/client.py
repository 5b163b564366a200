"""Background link between wrappers and the reward server.

The env step path must never wait on the network, so everything networked happens here, in
one daemon thread per (process, server): it ships newly seen messages (and per-episode
occurrence counts) in batches and pulls reward-table deltas by version. Wrappers only read
``client.table`` — a plain dict that this thread updates with single ``dict`` operations, each
atomic under the GIL, so no lock is taken on the step path.

The thread never dies of an exception: whatever goes wrong (the server is down, answers
garbage, or a library misbehaves) is counted, logged once, backed off from and retried. If the
server is down the client keeps the last table, keeps unsent messages (bounded, drops counted)
and retries; nothing raises into the env. A client that has not synced for ``stale_after``
seconds says so (:attr:`RewardClient.stale`, ``info["oni"]["stale"]``) and logs a warning.

Fork and spawn: the thread starts at the first ``reset`` (never at construction, so a vector
env's throwaway env in the parent starts none), each process gets its own client, and
everything the thread imports is imported here, by the importing thread — a fork taken while
another thread is half-way through an import leaves the child a half-initialised module (the
``partially initialized module 'httpcore'`` failure AsyncVectorEnv's workers once hit).
"""

from __future__ import annotations

import collections
import logging
import os
import random
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

import httpx

from oni_wrappers.messages import normalize_message
from oni_wrappers.step_info import quiet_step_info

logger = logging.getLogger(__name__)


def _preload_http_stack() -> None:
    """Import now, in the importing thread, what httpx imports lazily on first use.

    httpx 0.28 imports httpcore (and ssl, certifi) inside ``HTTPTransport.__init__``, and the
    socket layer imports the ``idna`` codec at the first host name it resolves. Done first in
    the client thread, either can be mid-import when a vector env forks its workers.
    """
    import ssl  # noqa: F401

    import certifi  # noqa: F401
    import httpcore  # noqa: F401

    "localhost".encode("idna")
    with httpx.Client():  # builds a transport: anything else httpx loads lazily, loaded now
        pass


_preload_http_stack()


@dataclass(frozen=True)
class ServerLimits:
    """What one ``POST /v1/messages`` may hold; published by the server at ``GET /v1/limits``."""

    max_batch_messages: int = 4096
    max_message_chars: int = 1024
    max_body_bytes: int = 4 * 1024 * 1024


@dataclass
class ClientStats:
    """Counters a user can read to see whether the link to the server is healthy."""

    messages_sent: int = 0
    #: dropped because the buffer was full while the server stayed away
    messages_dropped: int = 0
    #: refused by the server one by one (HTTP 422 on that message alone), or invalid before sending
    messages_rejected: int = 0
    syncs: int = 0
    full_syncs: int = 0
    errors: int = 0
    last_error: str | None = None
    connected: bool = False
    #: Seconds taken by the most recent requests to the server (POSTs and table syncs).
    latencies: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=4096))


class ServerRefusedCredentials(RuntimeError):
    """HTTP 401/403: the token is missing or wrong. Nothing is dropped; the client retries."""


class RewardClient:
    """Ships messages to a reward server and mirrors its versioned reward table.

    Use :meth:`shared` to get the one client per process and server URL that every wrapper in
    the process should share (one thread, one table, one connection pool).
    """

    _registry: ClassVar[dict[tuple[int, str], RewardClient]] = {}
    _registry_lock = threading.Lock()

    def __init__(
        self,
        server_url: str,
        *,
        sync_interval: float = 1.0,
        batch_size: int = 512,
        max_pending: int = 1_000_000,
        timeout: float = 5.0,
        token: str | None = None,
        max_backoff: float = 30.0,
        stale_after: float | None = None,
    ) -> None:
        self.server_url = server_url.rstrip("/")
        self.sync_interval = sync_interval
        self.batch_size = batch_size
        #: Distinct unsent messages (and distinct counted messages) kept while the server is away.
        self.max_pending = max_pending
        self.timeout = timeout
        #: Longest wait between reconnection attempts while the server is away.
        self.max_backoff = max_backoff
        #: Seconds without a successful table sync after which the table counts as stale.
        self.stale_after = stale_after if stale_after is not None else max(30.0, 10 * sync_interval)
        self.token = token if token is not None else os.environ.get("ONI_TOKEN")
        #: message → intrinsic reward; updated in place by the sync thread, read lock-free.
        self.table: dict[str, float] = {}
        self.version = 0
        #: Identity of the server's table the version refers to (see the server's store).
        self.table_id: str | None = None
        self.limits = ServerLimits()
        self.stats = ClientStats()
        self._limits_known = False
        self._created = time.monotonic()
        self._last_sync: float | None = None
        #: True when the table has not been synced for ``stale_after`` seconds (or ever, that
        #: long). A plain attribute the sync thread keeps up to date, flipping it on time while
        #: it waits between rounds (late by at most ``timeout`` while a request is in flight):
        #: the wrapper reads it every step, and a property's clock call there was the dearest
        #: single item of the step path (measured in instructions a step).
        self.stale = False
        #: ``info["oni"]`` of a step with no message and no reward at the current version and
        #: staleness: the wrapper copies it each step (see :mod:`oni_wrappers.step_info`). Replaced,
        #: never mutated, whenever either changes, so the step's copy needs no lock.
        self.quiet_step_info = quiet_step_info(self.version, self.stale)
        self._logged: set[str] = set()
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
        """The process-wide client for ``server_url``, created on first use.

        Keyed by PID so a forked worker never reuses its parent's (threadless) client. The
        thread starts at :meth:`ensure_running` (the wrapper's first ``reset``).
        """
        key = (os.getpid(), server_url.rstrip("/"))
        with cls._registry_lock:
            client = cls._registry.get(key)
            if client is None:
                client = cls(server_url, **kwargs)  # type: ignore[arg-type]
                cls._registry[key] = client
        return client

    @classmethod
    def _forget_parent_clients(cls) -> None:
        """(After fork, in the child.) The parent's clients and lock state mean nothing here."""
        cls._registry_lock = threading.Lock()
        cls._registry = {key: client for key, client in cls._registry.items() if key[0] == os.getpid()}

    def __reduce__(self) -> tuple:
        # Pickling a client (e.g. inside an env sent to a subprocess) recreates a fresh one
        # on the other side; threads, sockets and the table never cross a process boundary.
        return (
            _rebuild_shared_client,
            (
                self.server_url,
                {
                    "sync_interval": self.sync_interval,
                    "batch_size": self.batch_size,
                    "max_pending": self.max_pending,
                    "timeout": self.timeout,
                    "token": self.token,
                    "max_backoff": self.max_backoff,
                    "stale_after": self.stale_after,
                },
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
        self.ensure_running()
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
        backoff = self.sync_interval
        http: httpx.Client | None = None
        while True:
            stopping = self._stop.is_set()
            try:
                if http is None:
                    http = self._open()
                self._exchange(http)
                backoff = self.sync_interval
            except Exception as exc:  # noqa: BLE001 - the thread must outlive any failure
                self._record_failure(exc)
                backoff = min(backoff * 2, self.max_backoff)
                if not isinstance(exc, httpx.HTTPError | ServerRefusedCredentials) and http is not None:
                    http.close()  # something unexpected: start the next try from a new client
                    http = None
            if stopping:
                break
            delay = self.sync_interval if self.stats.connected else backoff
            self._pause(delay * random.uniform(0.8, 1.2))
        if http is not None:
            http.close()

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` or until woken, keeping :attr:`stale` true to the clock meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            until_stale = self._update_staleness()
            wait = deadline - time.monotonic()
            if wait <= 0:
                return
            if until_stale > 0:  # wake just past the moment it turns stale, to flip the flag then
                wait = min(wait, until_stale + 0.001)
            if self._wake.wait(wait):
                self._wake.clear()
                return

    def _open(self) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.Client(base_url=self.server_url, timeout=self.timeout, headers=headers)

    def _exchange(self, http: httpx.Client) -> None:
        """One round: learn the server's limits (once), send what is pending, pull the table."""
        if not self._limits_known:
            self._fetch_limits(http)
        self._send_pending(http)
        self._sync_table(http)
        if not self.stats.connected:
            if self.stats.errors:
                logger.info("reward server %s reachable again", self.server_url)
            self.stats.connected = True
        self._logged.clear()

    def _record_failure(self, exc: Exception) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        self.stats.connected = False
        kind = type(exc).__name__
        if kind in self._logged:
            logger.debug("reward server %s: %s", self.server_url, exc)
            return
        self._logged.add(kind)  # once per kind of failure until the link works again
        if isinstance(exc, ServerRefusedCredentials):
            logger.error("reward server %s refused the credentials (%s); nothing is dropped, retrying. "
                         "Pass token=... or set ONI_TOKEN.", self.server_url, exc)
        elif isinstance(exc, httpx.HTTPError):
            logger.warning("reward server %s unreachable (%s); retrying with backoff", self.server_url, exc)
        else:
            logger.exception("reward client for %s hit an unexpected error; retrying", self.server_url)

    def _update_staleness(self) -> float:
        """Set :attr:`stale` (warning once as it turns true); return the seconds until it would."""
        since = self._last_sync if self._last_sync is not None else self._created
        until_stale = since + self.stale_after - time.monotonic()
        stale = until_stale < 0
        if stale and not self.stale:
            logger.warning(
                "reward table from %s not synced for over %.0fs: envs are paid from the last table "
                "(version %d); %s", self.server_url, self.stale_after, self.version,
                f"last error: {self.stats.last_error}" if self.stats.last_error else
                "no request has failed: the process was paused or starved of CPU, or syncs are set further apart",
            )
        if stale != self.stale:
            self.stale = stale
            self._publish_quiet_step_info()
        return until_stale

    def _fetch_limits(self, http: httpx.Client) -> None:
        response = http.get("/v1/limits")
        if response.status_code == 404:  # a server from before /v1/limits: its defaults
            self._limits_known = True
            return
        _raise_for_status(response)
        body = response.json()
        self.limits = ServerLimits(**{k: int(body[k]) for k in ServerLimits.__dataclass_fields__ if k in body})
        self._limits_known = True

    # ---------------------------------------------------------------------- sending
    def _send_pending(self, http: httpx.Client) -> None:
        """Send every pending message in batches the server accepts; on failure keep the rest.

        A batch the server splits (413/422) goes out as several requests; when one of them fails,
        only the parts not yet accepted go back to the queue. Resending the whole batch would
        count the accepted part's occurrences twice.
        """
        while self._new_messages or self._counts:
            unsent = collections.deque([self._take_batch()])
            try:
                self._post(http, unsent)
            except BaseException:
                for entries in unsent:
                    self._requeue(entries)
                raise

    def _take_batch(self) -> list[tuple[str, int]]:
        """Up to one batch of (message, count): counted messages first, then new ones."""
        size = max(1, min(self.batch_size, self.limits.max_batch_messages))
        budget = int(self.limits.max_body_bytes * 0.8)  # JSON escaping and framing: headroom
        entries: list[tuple[str, int]] = []
        used = 16
        with self._counts_lock:
            while self._counts and len(entries) < size and used < budget:
                text, count = self._counts.popitem()
                entries.append((text, count))
                used += _entry_bytes(text)
        taken = {text for text, _ in entries}
        while self._new_messages and len(entries) < size and used < budget:
            text = self._new_messages.popleft()
            if text not in taken:
                entries.append((text, 0))
                used += _entry_bytes(text)
        return self._valid(entries)

    def _valid(self, entries: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Drop (and count) what the server would refuse one by one: empty, NUL, too long."""
        kept = []
        for text, count in entries:
            norm = normalize_message(text)
            if not norm or "\x00" in norm or len(norm) > self.limits.max_message_chars:
                self.stats.messages_rejected += 1
            else:
                kept.append((text, count))
        return kept

    def _post(self, http: httpx.Client, unsent: collections.deque[list[tuple[str, int]]]) -> None:
        """POST the batches in ``unsent`` one by one, taking each off only once the server has
        it; a 413 or 422 splits a batch in place until the refused message stands alone."""
        while unsent:
            entries = unsent[0]
            if not entries:
                unsent.popleft()
                continue
            started = time.perf_counter()
            response = http.post(
                "/v1/messages", json={"messages": [{"text": text, "count": count} for text, count in entries]}
            )
            self.stats.latencies.append(time.perf_counter() - started)
            status = response.status_code
            if status in (400, 413, 422):
                unsent.popleft()
                if len(entries) == 1:
                    self.stats.messages_rejected += 1
                    logger.warning("reward server refused message %r: %s", entries[0][0][:120], response.text[:300])
                    continue
                if status == 413:
                    self._refresh_limits(http)
                half = len(entries) // 2
                unsent.extendleft([entries[half:], entries[:half]])  # first half first
                continue
            _raise_for_status(response)  # raises with the batch still in ``unsent``
            unsent.popleft()
            self.stats.messages_sent += len(entries)

    def _refresh_limits(self, http: httpx.Client) -> None:
        try:
            self._fetch_limits(http)
        except httpx.HTTPError:
            pass  # splitting works without them

    def _requeue(self, entries: Iterable[tuple[str, int]]) -> None:
        new = [text for text, count in entries if count == 0]
        self._new_messages.extendleft(reversed(new))
        with self._counts_lock:
            self._counts.update({text: count for text, count in entries if count})

    # ---------------------------------------------------------------------- the table
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
            self.table.update((str(k), float(v)) for k, v in body["rewards"].items())
        if body["rewards"]:
            self._submitted.difference_update(body["rewards"])  # in the table: no longer pending
        version = int(body["version"])
        self._last_sync = time.monotonic()
        if version != self.version or self.stale:
            self.version = version
            self.stale = False
            self._publish_quiet_step_info()
        self.stats.syncs += 1

    def _publish_quiet_step_info(self) -> None:
        self.quiet_step_info = quiet_step_info(self.version, self.stale)

    def _get_rewards(self, http: httpx.Client, since: int) -> dict:
        started = time.perf_counter()
        response = http.get("/v1/rewards", params={"since": since})
        self.stats.latencies.append(time.perf_counter() - started)
        _raise_for_status(response)
        return response.json()


def _entry_bytes(text: str) -> int:
    return len(text.encode("utf-8", errors="replace")) + 32


def _raise_for_status(response: httpx.Response) -> None:
    if response.status_code in (401, 403):
        raise ServerRefusedCredentials(f"HTTP {response.status_code}: {response.text[:200]}")
    response.raise_for_status()


def _rebuild_shared_client(server_url: str, kwargs: dict) -> RewardClient:
    return RewardClient.shared(server_url, **kwargs)


os.register_at_fork(after_in_child=RewardClient._forget_parent_clients)
