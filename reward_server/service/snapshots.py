"""Whole-table answers to ``GET /v1/rewards`` (a new client's first sync, or one that fell behind
the change log), built from the store on disk, off the event loop, gzip-compressed once.

At a million rows the table is tens of MB of JSON. Building it from the in-memory dict on the
event loop stalled every other request for a second; here a reader connection of its own (SQLite
WAL lets it read while the server writes) reads version and rows in one transaction, encodes
them in chunks of rows (so the GIL is never held long: the loop keeps answering), and compresses
them (zlib releases the GIL). The result is kept and served to every client that needs it until
it is ``max_age`` seconds old; a client then pulls the delta from the snapshot's version.
"""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from reward_server.serial import SerialThread
from reward_server.storage.store import TableReader

ROWS_PER_CHUNK = 20_000


@dataclass(frozen=True)
class Snapshot:
    version: int
    rows: int
    gzip: bytes  # the JSON body of RewardsOut(full=True), gzip-compressed
    seconds: float  # to build
    built_at: float  # time.monotonic()

    def json(self) -> bytes:
        return zlib.decompress(self.gzip, wbits=31)


class TableSnapshots:
    def __init__(self, store_path: Path, table_id: str, max_age: float = 10.0) -> None:
        self.store_path = store_path
        self.table_id = table_id
        self.max_age = max_age
        self.built = 0  # snapshots built so far
        self.latest: Snapshot | None = None
        self._thread = SerialThread("oni-snapshot")
        self._reader: TableReader | None = None
        self._building: asyncio.Task[Snapshot] | None = None

    async def get(self, current_version: int) -> Snapshot:
        """A snapshot at ``current_version``, or one at most ``max_age`` seconds old."""
        latest = self.latest
        if latest is not None and (latest.version >= current_version
                                   or time.monotonic() - latest.built_at < self.max_age):
            return latest
        if self._building is None or self._building.done():
            self._building = asyncio.create_task(self._thread.run(self._build))
        snapshot = await asyncio.shield(self._building)
        self.latest = snapshot
        return snapshot

    def close(self) -> None:
        self._thread.run_sync(self._close)
        self._thread.shutdown()

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _build(self) -> Snapshot:
        """(Snapshot thread) read version and rows in one transaction, encode and compress in chunks."""
        started = time.monotonic()
        if self._reader is None:
            self._reader = TableReader(self.store_path)
        compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
        out: list[bytes] = []
        rows = 0
        with self._reader.table(ROWS_PER_CHUNK) as (version, chunks):
            head = json.dumps({"table_id": self.table_id, "version": version, "full": True})[:-1]
            out.append(compressor.compress((head + ', "rewards": {').encode()))
            for chunk in chunks:
                body = json.dumps(dict(chunk), ensure_ascii=False)[1:-1]
                out.append(compressor.compress(((", " if rows else "") + body).encode()))
                rows += len(chunk)
        out.append(compressor.compress(b"}}"))
        out.append(compressor.flush())
        self.built += 1
        return Snapshot(version, rows, b"".join(out), time.monotonic() - started, time.monotonic())
