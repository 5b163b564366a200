"""One writer per store: an OS lock on a sidecar file next to the SQLite file.

Two servers on one store do not corrupt SQLite, but they lose labels: each keeps its own
in-memory queue and table, so a message the first one stored is never queued or published by
the second (it stays unlabelled and pays 0), and an ``import`` into a running server's store is
never seen by it. So whoever writes a store holds ``<store>.lock`` with ``flock``:

* the kernel releases the lock when the holder closes it *or dies* (kill -9 included), so a
  crashed server never leaves a stale lock that a user must delete by hand;
* the file holds a small JSON note about the holder (pid, command, and once the server is
  bound, its address), so a refused second process can say which one to stop.

The sidecar is never deleted (deleting a lock file others may be waiting on is a race); it is
empty of meaning while unlocked. It also keeps the store's last published ``table_id`` and
version, which lets a store restored from an older copy notice that it went back in time
(see ``Store``).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any


class StoreError(RuntimeError):
    """A store cannot be used; the message says why and what to do."""


class StoreLocked(StoreError):
    """Another process holds the store (a running server, or an import)."""


def lock_path(store: Path) -> Path:
    return store.with_name(store.name + ".lock")


#: this process's held locks by store path: the server's address is added after it binds
_held: dict[Path, StoreLock] = {}
_held_guard = threading.Lock()


class StoreLock:
    """An exclusive ``flock`` on ``<store>.lock``, with a note about the holder in it."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.path = lock_path(store)
        self._note: dict[str, Any] = {}
        self._guard = threading.Lock()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_read_note(fd))
            os.close(fd)
            raise StoreLocked(
                f"the store {store} is in use by {holder}. One store serves one server: stop that process "
                "first (Ctrl-C or SIGTERM; it saves everything), or give this one another --store"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd
        self._previous = _read_note(fd)  # what the last holder left (its table id and version)
        self.update(pid=os.getpid(), command=" ".join(sys.argv)[:300])
        with _held_guard:
            _held[store.resolve()] = self

    @property
    def previous(self) -> dict[str, Any]:
        """The note the previous holder left behind (empty if none)."""
        return dict(self._previous)

    def update(self, **fields: Any) -> None:
        """Merge ``fields`` into the note and rewrite it (cheap: a few hundred bytes, no fsync)."""
        with self._guard:
            if self._fd is None:
                return
            self._note.update(fields)
            data = json.dumps(self._note).encode()
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)

    def release(self) -> None:
        with _held_guard:
            if _held.get(self.store.resolve()) is self:
                del _held[self.store.resolve()]
        with self._guard:
            if self._fd is None:
                return
            # LOCK_UN first: a forked child sharing the descriptor must not keep the lock alive
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def note_server_address(store: Path, host: str, port: int) -> None:
    """Add a bound server's address to the note of the lock this process holds on ``store``, so a
    second server refused on that store can name it. No-op if this process holds no lock there."""
    with _held_guard:
        held = _held.get(Path(store).resolve())
    if held is not None:
        held.update(host=host, port=port)


def _read_note(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        note = json.loads(data.decode()) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return note if isinstance(note, dict) else {}


def _describe(note: dict[str, Any]) -> str:
    """"process 1234 (a reward server on http://127.0.0.1:8765: python -m reward_server ...)"."""
    if not note.get("pid"):
        return "another process"
    parts = []
    if note.get("port"):
        parts.append(f"a reward server on http://{note.get('host', '127.0.0.1')}:{note['port']}")
    if note.get("command"):
        parts.append(str(note["command"]))
    return f"process {note['pid']}" + (f" ({': '.join(parts)})" if parts else "")
