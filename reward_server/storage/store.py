"""The on-disk store: every message seen, every LLM answer, and the published reward table.

SQLite in WAL mode, one file. The store is the reason an LLM is never asked the same question
twice: an annotation is keyed by (message, goal, prompt version, model, label mode), and a
restarted server reloads the table and re-queues only the messages that have no annotation.

All methods are synchronous and fast (one transaction each); the server calls them from a
single-thread executor so the event loop never blocks on disk and SQLite sees one writer.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple, Self, TypeVar

from reward_server.storage.lock import StoreError, StoreLock

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    text        TEXT PRIMARY KEY,
    count       INTEGER NOT NULL DEFAULT 0,
    first_seen  REAL NOT NULL,
    last_seen   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS annotations (
    text            TEXT NOT NULL,
    goal            TEXT NOT NULL,
    prompt_version  TEXT NOT NULL,
    model           TEXT NOT NULL,
    label_mode      TEXT NOT NULL,
    label           INTEGER,          -- 1 helpful, 0 not, NULL unparsable answer
    score           REAL,             -- yes-vs-no log-odds in logprob mode, NULL otherwise
    raw             TEXT NOT NULL,    -- the model's answer, kept for audits and re-parsing
    created         REAL NOT NULL,
    PRIMARY KEY (text, goal, prompt_version, model, label_mode)
);
CREATE TABLE IF NOT EXISTS rewards (
    text     TEXT PRIMARY KEY,
    reward   REAL NOT NULL,
    version  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS rewards_by_version ON rewards(version);
-- the durable queue is read newest first (start-up and refills past --max-queue)
CREATE INDEX IF NOT EXISTS messages_by_first_seen ON messages(first_seen);
CREATE TABLE IF NOT EXISTS preferences (
    first           TEXT NOT NULL,
    second          TEXT NOT NULL,
    goal            TEXT NOT NULL,
    prompt_version  TEXT NOT NULL,
    model           TEXT NOT NULL,
    label_mode      TEXT NOT NULL,
    label           INTEGER,          -- 1 first better, 0 second better (generate mode)
    score           REAL,             -- log-odds of "1" over "2"; 0.0 for a stated tie
    raw             TEXT NOT NULL,
    created         REAL NOT NULL,
    PRIMARY KEY (first, second, goal, prompt_version, model, label_mode)
);
CREATE INDEX IF NOT EXISTS preferences_by_second ON preferences(second);
CREATE TABLE IF NOT EXISTS checkpoints (
    name     TEXT PRIMARY KEY,        -- reward model + question it learns from
    version  INTEGER NOT NULL,
    created  REAL NOT NULL,
    state    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
"""


# The records are NamedTuples: cheap to build (a restart reads a million), and positional like
# the rows SQLite returns (``Store.label_rows`` hands those over as they are).


class AnnotationKey(NamedTuple):
    """Everything that changes the question asked of the LLM (besides the message)."""

    goal: str
    prompt_version: str
    model: str
    label_mode: str


class StoredPreference(NamedTuple):
    """One LLM answer to "which of these two messages shows more progress?"."""

    first: str
    second: str
    label: int | None
    score: float | None
    raw: str


class Annotation(NamedTuple):
    """One LLM answer to "is this message helpful?": a label (generate mode) or log-odds."""

    text: str
    label: int | None
    score: float | None
    raw: str


Answer = TypeVar("Answer", Annotation, StoredPreference)
#: the columns of a question key, in AnnotationKey's field order
_KEY_COLUMNS = ("goal", "prompt_version", "model", "label_mode")
#: answer record type → (table, the columns of what was asked about)
_ANSWER_TABLES: dict[type, tuple[str, tuple[str, ...]]] = {
    Annotation: ("annotations", ("text",)),
    StoredPreference: ("preferences", ("first", "second")),
}


class StoreUnreadable(StoreError):
    """The file is not a SQLite database (truncated, overwritten, or something else entirely)."""


class Store:
    """A SQLite file holding messages, annotations and the versioned reward table.

    A writing store holds the store's OS lock (:mod:`reward_server.storage.lock`) from open to
    close: one server (or import) per store. ``readonly=True`` takes no lock and writes nothing
    (export, inspection while a server runs: SQLite's WAL lets it read beside the writer).
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._lock: StoreLock | None = None
        if readonly:
            if not self.path.exists():
                raise StoreError(f"no such store: {self.path}")
            self._db = _connect(f"file:{self.path}?mode=ro", self.path, uri=True)
            self.table_id = self.get_meta("table_id") or ""
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = StoreLock(self.path)  # before the file is touched: a refused open changes nothing
        try:
            if not self.path.exists():
                # Annotations can be costly to remake and may hold private prompts: owner-only.
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            self._db = _connect(str(self.path), self.path)
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(SCHEMA)
                self.table_id: str = self._bind_table_id()
            except BaseException:
                self._db.close()
                raise
        except sqlite3.DatabaseError as exc:
            self._lock.release()
            raise _unreadable(self.path, exc) from exc
        except BaseException:
            self._lock.release()
            raise

    def _bind_table_id(self) -> str:
        """The random identity of this table's version sequence, renewed when the file is not the
        one it was last time: clients that see it change know their versions mean nothing here.

        Restoring a store from a copy sends its versions back in time while clients hold newer
        ones; once the restored store publishes past them, their deltas would silently skip
        rows. Two signs of a restore, both kept outside the database (a copy carries everything
        inside it): the file's identity (device and inode, recorded in ``meta``) changed — a
        copy moved into place —, or the lock file's note says this table id was already at a
        higher version — a copy written over the file in place. Either gives a fresh id; a
        false alarm (a store moved to another disk) costs the clients one full sync.
        """
        assert self._lock is not None
        self._db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('table_id', ?)", (uuid.uuid4().hex,))
        table_id = self.get_meta("table_id") or ""
        stat = os.stat(self.path)
        identity = f"{stat.st_dev}:{stat.st_ino}"
        recorded = self.get_meta("table_file")
        previous = self._lock.previous
        version = self.table_version()
        went_back = previous.get("table_id") == table_id and _as_int(previous.get("version")) > version
        if went_back or (recorded is not None and recorded != identity):
            table_id = self.renew_table_id()
        self.set_meta("table_file", identity)
        self._lock.update(table_id=table_id, version=version)
        return table_id

    def renew_table_id(self) -> str:
        """A fresh table identity (after a restore, or an import that changed the answers)."""
        table_id = uuid.uuid4().hex
        self.set_meta("table_id", table_id)
        self.table_id = table_id
        if self._lock is not None:
            self._lock.update(table_id=table_id)
        return table_id

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside it see one consistent state of the store (a read transaction)."""
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    # ----------------------------------------------------------------------- messages
    def add_messages(self, counts: Mapping[str, int]) -> list[str]:
        """Record sightings; returns the messages this store had never seen before."""
        with self._transaction():
            return self._insert_messages(counts)

    def _insert_messages(self, counts: Mapping[str, int]) -> list[str]:
        now = time.time()
        known = self._existing(counts.keys())
        self._db.executemany(
            "INSERT INTO messages(text, count, first_seen, last_seen) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(text) DO UPDATE SET count = count + excluded.count, "
            "last_seen = excluded.last_seen",
            [(text, count, now, now) for text, count in counts.items()],
        )
        return [text for text in counts if text not in known]

    def _existing(self, texts: Iterable[str]) -> set[str]:
        found: set[str] = set()
        texts = list(texts)
        for start in range(0, len(texts), 500):
            chunk = texts[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT text FROM messages WHERE text IN ({marks})", chunk)
            found.update(row[0] for row in rows)
        return found

    def message_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]

    def reported_messages(self, limit: int = -1, *, paid_only: bool = False) -> list[tuple[str, int, float]]:
        """Messages as the envs reported them, the most often first: (text, count, the reward the
        table holds, 0 if none); ``paid_only``: those with a reward above 0."""
        paid = "WHERE r.reward > 0 " if paid_only else ""
        return self._db.execute(
            "SELECT m.text, m.count, COALESCE(r.reward, 0.0) FROM messages m LEFT JOIN rewards r ON r.text = m.text "
            f"{paid}ORDER BY m.count DESC, m.text LIMIT ?", (limit,)).fetchall()

    def most_reported_paid(self, limit: int) -> tuple[list[tuple[str, int, float]], int, int, int]:
        """The ``limit`` paid messages reported most often (:meth:`reported_messages`); the number of
        paid messages, their reports, and all reports, read in one snapshot."""
        with self.snapshot():
            rows = self.reported_messages(limit, paid_only=True)
            paid, paid_reports = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(m.count), 0) FROM rewards r JOIN messages m ON m.text = r.text "
                "WHERE r.reward > 0").fetchone()
            reports = self._db.execute("SELECT COALESCE(SUM(count), 0) FROM messages").fetchone()[0]
        return rows, int(paid), int(paid_reports), int(reports)

    def unannotated(self, key: AnnotationKey, limit: int = -1) -> list[str]:
        """Messages without an annotation under ``key`` (the durable queue), oldest first;
        with ``limit``, only the newest ``limit`` of them (still oldest first)."""
        rows = self._db.execute(
            "SELECT m.text FROM messages m LEFT JOIN annotations a ON a.text = m.text "
            "AND a.goal = ? AND a.prompt_version = ? AND a.model = ? AND a.label_mode = ? "
            "WHERE a.text IS NULL ORDER BY m.first_seen DESC, m.rowid DESC LIMIT ?",
            (key.goal, key.prompt_version, key.model, key.label_mode, limit),
        )
        return [row[0] for row in rows][::-1]

    # ---------------------------------------------------- annotations and preferences
    # Both tables hold LLM answers under a question key: the items asked about (a message, or
    # two), then the answer (label, score, raw). One set of methods serves both.

    def add_annotations(self, key: AnnotationKey, annotations: Iterable[Annotation]) -> None:
        with self._transaction():
            self._insert_answers(Annotation, key, annotations)

    def annotations(self, key: AnnotationKey) -> Iterator[Annotation]:
        return self._answers(Annotation, key)

    def label_rows(self, key: AnnotationKey) -> list[tuple[str, int | None, float | None]]:
        """(text, label, score) of every annotation under ``key``: what a restart needs, as plain
        rows (no record per row: at a million rows that is seconds)."""
        where = " AND ".join(f"{column} = ?" for column in _KEY_COLUMNS)
        return self._db.execute(f"SELECT text, label, score FROM annotations WHERE {where}", key).fetchall()

    def label_rows_of(self, key: AnnotationKey, texts: list[str]) -> list[tuple[str, int | None, float | None]]:
        """(text, label, score) of the annotations under ``key`` of these messages only."""
        where = " AND ".join(f"{column} = ?" for column in _KEY_COLUMNS)
        found: list[tuple[str, int | None, float | None]] = []
        for start in range(0, len(texts), 500):
            chunk = texts[start : start + 500]
            found += self._db.execute(
                f"SELECT text, label, score FROM annotations WHERE {where} AND text IN ({','.join('?' * len(chunk))})",
                (*key, *chunk),
            ).fetchall()
        return found

    def annotated_keys(self) -> Iterator[tuple[AnnotationKey, Annotation]]:
        """Every annotation under every key (for export)."""
        return self._all_answers(Annotation)

    def add_preferences(self, key: AnnotationKey, preferences: Iterable[StoredPreference]) -> None:
        with self._transaction():
            self._insert_answers(StoredPreference, key, preferences)

    def preferences(self, key: AnnotationKey) -> Iterator[StoredPreference]:
        return self._answers(StoredPreference, key)

    def preference_keys(self) -> Iterator[tuple[AnnotationKey, StoredPreference]]:
        """Every preference under every key (for export)."""
        return self._all_answers(StoredPreference)

    def _insert_answers(self, kind: type[Answer], key: AnnotationKey, answers: Iterable[Answer]) -> None:
        table, items = _ANSWER_TABLES[kind]
        columns = (*items, *_KEY_COLUMNS, "label", "score", "raw", "created")
        now = time.time()
        self._db.executemany(
            f"INSERT OR REPLACE INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [(*a[: len(items)], *key, a.label, a.score, a.raw, now) for a in answers],
        )

    def _answers(self, kind: type[Answer], key: AnnotationKey) -> Iterator[Answer]:
        table, items = _ANSWER_TABLES[kind]
        where = " AND ".join(f"{column} = ?" for column in _KEY_COLUMNS)
        rows = self._db.execute(f"SELECT {', '.join(items)}, label, score, raw FROM {table} WHERE {where}",
                                key)
        yield from map(kind._make, rows)

    def _all_answers(self, kind: type[Answer]) -> Iterator[tuple[AnnotationKey, Answer]]:
        table, items = _ANSWER_TABLES[kind]
        rows = self._db.execute(f"SELECT {', '.join(_KEY_COLUMNS)}, {', '.join(items)}, label, score, raw FROM {table}")
        for row in rows:
            yield AnnotationKey(*row[:4]), kind(*row[4:])

    def under_compared(self, key: AnnotationKey, wanted: int, limit: int = -1) -> dict[str, int]:
        """Messages in fewer than ``wanted`` comparisons under ``key`` → how many they lack,
        newest first (the durable queue of the ranking model)."""
        params = (key.goal, key.prompt_version, key.model, key.label_mode)
        rows = self._db.execute(
            "WITH compared(text) AS ("
            "  SELECT first FROM preferences WHERE goal = ? AND prompt_version = ? AND model = ? "
            "  AND label_mode = ? UNION ALL "
            "  SELECT second FROM preferences WHERE goal = ? AND prompt_version = ? AND model = ? "
            "  AND label_mode = ?), "
            "counts(text, n) AS (SELECT text, COUNT(*) FROM compared GROUP BY text) "
            "SELECT m.text, COALESCE(c.n, 0) FROM messages m LEFT JOIN counts c ON c.text = m.text "
            "WHERE COALESCE(c.n, 0) < ? ORDER BY m.first_seen DESC, m.rowid DESC LIMIT ?",
            (*params, *params, wanted, limit),
        )
        return {text: wanted - n for text, n in rows}

    def import_answers(
        self,
        messages: Mapping[str, int],
        annotations: Mapping[AnnotationKey, list[Annotation]],
        preferences: Mapping[AnnotationKey, list[StoredPreference]],
    ) -> None:
        """Messages, annotations and preferences in one transaction: all of them or none."""
        with self._transaction():
            self._insert_messages(messages)
            for key, rows in annotations.items():
                self._insert_answers(Annotation, key, rows)
            for key, prefs in preferences.items():
                self._insert_answers(StoredPreference, key, prefs)

    # -------------------------------------------------------------------- checkpoints
    def save_checkpoint(self, name: str, version: int, state: bytes) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO checkpoints(name, version, created, state) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET version = excluded.version, "
                "created = excluded.created, state = excluded.state",
                (name, version, time.time(), state),
            )

    def load_checkpoint(self, name: str) -> tuple[int, bytes] | None:
        row = self._db.execute("SELECT version, state FROM checkpoints WHERE name = ?", (name,)).fetchone()
        return (int(row[0]), bytes(row[1])) if row else None

    def messages_in_order(self) -> list[str]:
        """Every message text, oldest first (to rebuild a model's feature cache)."""
        return [row[0] for row in self._db.execute("SELECT text FROM messages ORDER BY first_seen, rowid")]

    # --------------------------------------------------------------------------- meta
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # ------------------------------------------------------------------- reward table
    def table_version(self) -> int:
        return _table_version(self._db)

    def publish(self, rows: Mapping[str, float]) -> int:
        """Write changed rows under a new table version; returns that version."""
        with self._transaction():
            version = self.table_version() + 1
            self._db.executemany(
                "INSERT INTO rewards(text, reward, version) VALUES (?, ?, ?) "
                "ON CONFLICT(text) DO UPDATE SET reward = excluded.reward, "
                "version = excluded.version",
                [(text, reward, version) for text, reward in rows.items()],
            )
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES ('table_version', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(version),),
            )
        if self._lock is not None:
            self._lock.update(version=version)  # the high-water mark a restored copy is checked against
        return version

    def reward_rows(self) -> Iterator[tuple[str, float, int]]:
        yield from self._db.execute("SELECT text, reward, version FROM rewards")

    # ------------------------------------------------------------------------ helpers
    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


#: meta key: the --max-message-chars of the last server that served the store (imports check it)
MESSAGE_LIMIT_KEY = "max_message_chars"


def record_message_limit(path: Path, max_message_chars: int) -> None:
    """Note in the store the longest message its server takes, so an ``import`` into it checks
    texts against that limit rather than the default one. Its own short connection: called
    once by a starting server beside the service's store thread (SQLite serialises the write)."""
    db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    try:
        db.execute("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                   (MESSAGE_LIMIT_KEY, str(max_message_chars)))
    finally:
        db.close()


def _connect(target: str, path: Path, uri: bool = False) -> sqlite3.Connection:
    try:
        return sqlite3.connect(target, uri=uri, check_same_thread=False, isolation_level=None)
    except sqlite3.DatabaseError as exc:
        raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: sqlite3.DatabaseError) -> StoreUnreadable:
    return StoreUnreadable(
        f"the store {path} is not a readable oni store (SQLite: {exc}). It may be truncated or not a "
        "store at all: restore it from a copy, or move it aside and start with an empty one "
        "(labels exported with 'python -m reward_server export' can be imported into it)"
    )


def _as_int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _table_version(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = 'table_version'").fetchone()
    return int(row[0]) if row else 0


class TableReader:
    """A read-only connection of its own to a store's reward table, for whole-table reads off the
    server's store thread (SQLite WAL lets it read while the store writes)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False)

    @contextmanager
    def table(self, rows_per_chunk: int) -> Iterator[tuple[int, Iterator[list[tuple[str, float]]]]]:
        """The table's version and its (text, reward) rows in chunks, read in one transaction."""
        self._db.execute("BEGIN")
        try:
            cursor = self._db.execute("SELECT text, reward FROM rewards")
            yield _table_version(self._db), iter(lambda: cursor.fetchmany(rows_per_chunk), [])
        finally:
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
