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
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class AnnotationKey:
    """Everything that changes the question asked of the LLM (besides the message)."""

    goal: str
    prompt_version: str
    model: str
    label_mode: str


@dataclass(frozen=True)
class StoredPreference:
    """One LLM answer to "which of these two messages shows more progress?"."""

    first: str
    second: str
    label: int | None
    score: float | None
    raw: str


@dataclass(frozen=True)
class Annotation:
    text: str
    label: int | None
    score: float | None
    raw: str


class Store:
    """A SQLite file holding messages, annotations and the versioned reward table."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            # Annotations can be costly to remake and may hold private prompts: owner-only.
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        # A random identity for this table's version sequence: clients that see it change know
        # their versions are meaningless here (another store behind the same URL) and resync.
        self._db.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES ('table_id', ?)", (uuid.uuid4().hex,)
        )
        self.table_id: str = self._db.execute("SELECT value FROM meta WHERE key = 'table_id'").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    # -------------------------------------------------------------------- annotations
    def add_annotations(self, key: AnnotationKey, annotations: Iterable[Annotation]) -> None:
        with self._transaction():
            self._insert_annotations(key, annotations)

    def _insert_annotations(self, key: AnnotationKey, annotations: Iterable[Annotation]) -> None:
        now = time.time()
        self._db.executemany(
            "INSERT OR REPLACE INTO annotations"
            "(text, goal, prompt_version, model, label_mode, label, score, raw, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (a.text, key.goal, key.prompt_version, key.model, key.label_mode,
                 a.label, a.score, a.raw, now)
                for a in annotations
            ],
        )

    def annotations(self, key: AnnotationKey) -> Iterator[Annotation]:
        rows = self._db.execute(
            "SELECT text, label, score, raw FROM annotations "
            "WHERE goal = ? AND prompt_version = ? AND model = ? AND label_mode = ?",
            (key.goal, key.prompt_version, key.model, key.label_mode),
        )
        for text, label, score, raw in rows:
            yield Annotation(text, label, score, raw)

    def annotation_count(self, key: AnnotationKey) -> int:
        return self._db.execute(
            "SELECT COUNT(*) FROM annotations "
            "WHERE goal = ? AND prompt_version = ? AND model = ? AND label_mode = ?",
            (key.goal, key.prompt_version, key.model, key.label_mode),
        ).fetchone()[0]

    def annotated_keys(self) -> Iterator[tuple[AnnotationKey, Annotation]]:
        """Every annotation under every key (for export)."""
        rows = self._db.execute(
            "SELECT goal, prompt_version, model, label_mode, text, label, score, raw FROM annotations"
        )
        for goal, version, model, mode, text, label, score, raw in rows:
            yield AnnotationKey(goal, version, model, mode), Annotation(text, label, score, raw)

    # -------------------------------------------------------------------- preferences
    def add_preferences(self, key: AnnotationKey, preferences: Iterable[StoredPreference]) -> None:
        with self._transaction():
            self._insert_preferences(key, preferences)

    def _insert_preferences(self, key: AnnotationKey, preferences: Iterable[StoredPreference]) -> None:
        now = time.time()
        self._db.executemany(
            "INSERT OR REPLACE INTO preferences"
            "(first, second, goal, prompt_version, model, label_mode, label, score, raw, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (p.first, p.second, key.goal, key.prompt_version, key.model, key.label_mode,
                 p.label, p.score, p.raw, now)
                for p in preferences
            ],
        )

    def preferences(self, key: AnnotationKey) -> Iterator[StoredPreference]:
        rows = self._db.execute(
            "SELECT first, second, label, score, raw FROM preferences "
            "WHERE goal = ? AND prompt_version = ? AND model = ? AND label_mode = ?",
            (key.goal, key.prompt_version, key.model, key.label_mode),
        )
        for first, second, label, score, raw in rows:
            yield StoredPreference(first, second, label, score, raw)

    def preference_keys(self) -> Iterator[tuple[AnnotationKey, StoredPreference]]:
        """Every preference under every key (for export)."""
        rows = self._db.execute(
            "SELECT goal, prompt_version, model, label_mode, first, second, label, score, raw FROM preferences"
        )
        for goal, version, model, mode, first, second, label, score, raw in rows:
            yield AnnotationKey(goal, version, model, mode), StoredPreference(first, second, label, score, raw)

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
                self._insert_annotations(key, rows)
            for key, prefs in preferences.items():
                self._insert_preferences(key, prefs)

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
        row = self._db.execute("SELECT value FROM meta WHERE key = 'table_version'").fetchone()
        return int(row[0]) if row else 0

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
