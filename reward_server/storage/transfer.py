"""Export and import of a store's LLM answers as JSON Lines.

Labels are the costly part of ONI (hours of a big model's time); the file moves them between
machines and runs: label on a GPU box with a 70B model, import on a laptop, and the server
there serves that model's labels without asking anything. One JSON object a line:

``{"kind": "annotation", "text", "goal", "prompt_version", "model", "label_mode", "label", "score", "raw"}``
``{"kind": "preference", "first", "second", "goal", "prompt_version", "model", "label_mode", "label", "score", "raw"}``

Imported messages are added to the message table too (with count 0), so the importing server
publishes their rewards at start-up. A server uses imported answers only when their key
(goal, prompt version, model, label mode) is the one it asks under: pass the same ``--llm``,
``--goal`` and prompt options as the run that made them.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from oni_wrappers.messages import normalize_message
from reward_server.storage.store import Annotation, AnnotationKey, Store, StoredPreference

#: Longest message text an import takes unless told otherwise (the server's default limit).
MAX_TEXT_CHARS = 1024


def _message_text(text: str, info: ValidationInfo) -> str:
    """What the HTTP API would accept for a message; an import bypasses every HTTP check."""
    limit = (info.context or {}).get("max_text_chars", MAX_TEXT_CHARS)
    if "\x00" in text:
        raise ValueError("message text holds a NUL byte")
    if not normalize_message(text):
        raise ValueError("message text is empty")
    if len(text) > limit:
        raise ValueError(f"message text is {len(text)} characters, over the limit of {limit} (--max-message-chars)")
    return text


MessageText = Annotated[str, AfterValidator(_message_text)]


class _Keyed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    goal: str
    prompt_version: str
    model: str
    label_mode: str
    label: int | None = Field(None, ge=0, le=1)
    score: float | None = None
    raw: str = ""

    @field_validator("score")
    @classmethod
    def _finite(cls, score: float | None) -> float | None:
        if score is not None and not math.isfinite(score):
            raise ValueError(f"score must be a finite log-odds, not {score}")
        return score

    def key(self) -> AnnotationKey:
        return AnnotationKey(self.goal, self.prompt_version, self.model, self.label_mode)


class AnnotationLine(_Keyed):
    kind: Literal["annotation"]
    text: MessageText


class PreferenceLine(_Keyed):
    kind: Literal["preference"]
    first: MessageText
    second: MessageText


class BadImportFile(ValueError):
    """A line of an import file is not a valid annotation or preference (nothing was imported)."""


def export_jsonl(store: Store, path: Path) -> tuple[int, int]:
    """Write every annotation and preference; returns (annotations, preferences) written.

    Atomic: the lines go to a temporary file beside ``path``, which replaces ``path`` only once
    complete and on disk, so a failed export leaves the previous file as it was and never a
    partial file that a later import would take. Nothing is validated on the way out: what the
    store holds is written as it is (a server run with a larger ``--max-message-chars`` holds
    longer texts; the import side checks against its own limit). Created owner-only (0600),
    like the store: it holds the same answers and prompts.
    """
    annotations = preferences = 0
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out, store.snapshot():
            for key, a in store.annotated_keys():
                out.write(_line({"kind": "annotation", "text": a.text, **_key_fields(key), "label": a.label,
                                 "score": a.score, "raw": a.raw}))
                annotations += 1
            for key, p in store.preference_keys():
                out.write(_line({"kind": "preference", "first": p.first, "second": p.second, **_key_fields(key),
                                 "label": p.label, "score": p.score, "raw": p.raw}))
                preferences += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return annotations, preferences


def _line(record: dict[str, object]) -> str:
    return json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"


def import_jsonl(store: Store, path: Path, max_text_chars: int = MAX_TEXT_CHARS) -> tuple[int, int]:
    """Read a file written by :func:`export_jsonl` into ``store``; all or nothing.

    The whole file is validated before anything is written (a bad line is reported with its
    number: malformed JSON, NaN or infinite scores, empty, NUL-holding or texts over
    ``max_text_chars``, the limit of the server that will serve the store), and everything is
    written in one transaction, so a failure leaves the store as it was. The store's table id is
    renewed: the server that opens it next republishes, and its clients resync from scratch.
    """
    lines = list(_read(path, max_text_chars))
    messages: dict[str, int] = {}
    annotations: dict[AnnotationKey, list[Annotation]] = {}
    preferences: dict[AnnotationKey, list[StoredPreference]] = {}
    for line in lines:
        if isinstance(line, AnnotationLine):
            messages.setdefault(line.text, 0)
            annotations.setdefault(line.key(), []).append(Annotation(line.text, line.label, line.score, line.raw))
        else:
            messages.setdefault(line.first, 0)
            messages.setdefault(line.second, 0)
            preferences.setdefault(line.key(), []).append(
                StoredPreference(line.first, line.second, line.label, line.score, line.raw)
            )
    store.import_answers(messages, annotations, preferences)
    store.renew_table_id()
    return sum(map(len, annotations.values())), sum(map(len, preferences.values()))


def _read(path: Path, max_text_chars: int) -> Iterator[AnnotationLine | PreferenceLine]:
    limits = {"max_text_chars": max_text_chars}
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                # NaN and Infinity are not JSON, though Python's json reads them
                data = json.loads(line.decode("utf-8"), parse_constant=_no_constant)
                kind = data.get("kind") if isinstance(data, dict) else None
                if kind == "annotation":
                    yield AnnotationLine.model_validate(data, context=limits)
                elif kind == "preference":
                    yield PreferenceLine.model_validate(data, context=limits)
                else:
                    raise BadImportFile(f"line {number}: 'kind' must be 'annotation' or 'preference'")
            except BadImportFile:
                raise
            except ValueError as exc:  # bad UTF-8 or JSON, a non-finite number, a schema error
                raise BadImportFile(f"line {number}: {exc}") from exc


def _key_fields(key: AnnotationKey) -> dict[str, str]:
    return {"goal": key.goal, "prompt_version": key.prompt_version, "model": key.model,
            "label_mode": key.label_mode}


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows (scores must be finite)")


def annotation_keys(path: Path) -> Counter[AnnotationKey]:
    """How many annotations of an export file each question key holds (lines that are not valid
    annotations are skipped: :func:`import_jsonl` reports those)."""
    keys: Counter[AnnotationKey] = Counter()
    with path.open("rb") as lines:
        for line in lines:
            try:
                data = json.loads(line)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("kind") == "annotation":
                fields = [data.get(name) for name in ("goal", "prompt_version", "model", "label_mode")]
                if all(isinstance(value, str) for value in fields):
                    keys[AnnotationKey(*fields)] += 1
    return keys
