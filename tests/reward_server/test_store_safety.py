"""The store's safety rails: one writer per store (an OS lock), a clear error for a file that is
not a store, a fresh table id whenever the file is not the one clients knew, and exports that
are all or nothing."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import httpx
import pytest

from reward_server.runner import BackgroundServer
from reward_server.storage.lock import StoreLocked
from reward_server.storage.store import Annotation, AnnotationKey, Store, StoreUnreadable
from reward_server.storage.transfer import BadImportFile, export_jsonl, import_jsonl
from tests.conftest import fake_config
from tests.helpers import stats, wait_for

KEY = AnnotationKey("default", "v1", "m", "logprob")


def test_a_second_server_on_the_same_store_is_refused_and_named(fake_llm, tmp_path):
    store = tmp_path / "oni.sqlite"
    with BackgroundServer(fake_config(fake_llm, store)) as first:
        httpx.post(first.url + "/v1/messages", json={"messages": [{"text": "You kill the newt!"}]})
        assert wait_for(lambda: stats(first)["labelled"] == 1)
        second = BackgroundServer(fake_config(fake_llm, store))
        with pytest.raises(RuntimeError) as refused:
            second.start()
        cause = refused.value.__cause__
        assert isinstance(cause, StoreLocked)
        assert f"process {os.getpid()}" in str(cause) and f":{first.port}" in str(cause)
        assert "another --store" in str(cause)
        with pytest.raises(StoreLocked):
            Store(store)  # an import (or anything that writes) is refused too
        with Store(store, readonly=True) as view:  # reading beside the server is fine
            assert view.message_count() == 1
    with BackgroundServer(fake_config(fake_llm, store)) as again:  # released at close
        assert stats(again)["labelled"] == 1


def test_the_lock_dies_with_its_process(tmp_path):
    store = tmp_path / "oni.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", ("import sys, time; from reward_server.storage.store import Store; "
                                f"s = Store({str(store)!r}); print('ready', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreLocked, match=f"process {holder.pid}"):
            Store(store)
        holder.kill()  # no cleanup at all: the kernel drops the lock
        holder.wait(10)
        with Store(store) as reopened:
            assert reopened.message_count() == 0
    finally:
        holder.kill()


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100, b""], ids=["garbage", "header-only"])
def test_a_file_that_is_not_a_store_is_a_clear_error(tmp_path, content):
    path = tmp_path / "oni.sqlite"
    if content:
        path.write_bytes(content)
    else:  # a real store cut short inside its first page
        with Store(path) as store:
            store.add_messages({"You kill the newt!": 1})
        data = path.read_bytes()
        path.write_bytes(data[:50])
    with pytest.raises(StoreUnreadable, match="not a readable oni store.*restore it from a copy"):
        Store(path)
    with Store(tmp_path / "fine.sqlite"):  # and the failed open left no lock behind
        pass
    with pytest.raises(StoreUnreadable):
        Store(path)


def test_the_server_command_says_so_for_a_file_that_is_not_a_store(fake_llm, tmp_path):
    store = tmp_path / "oni.sqlite"
    store.write_bytes(b"garbage" * 1000)
    done = subprocess.run(
        [sys.executable, "-m", "reward_server", "--llm", "openai/fake-judge", "--api-base", fake_llm.api_base,
         "--store", str(store), "--port", "0", "--no-preflight"],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "not a readable oni store" in done.stderr and "Traceback" not in done.stderr
    assert store.read_bytes() == b"garbage" * 1000  # left as it was


def _store_at_version(path, versions):  # type: ignore[no-untyped-def]
    with Store(path) as store:
        for i in range(versions):
            store.publish({f"message {i}": 1.0})
        return store.table_id


def test_the_table_id_survives_a_restart_but_not_a_restore(tmp_path):
    path = tmp_path / "oni.sqlite"
    first_id = _store_at_version(path, 3)
    with Store(path) as store:
        assert store.table_id == first_id  # a plain restart: clients keep their deltas
    backup = tmp_path / "backup.sqlite"
    shutil.copyfile(path, backup)
    assert _store_at_version(path, 5) == first_id  # the server goes on to version 8
    # restored in place (cp over the file: same inode, versions back at 3)
    shutil.copyfile(backup, path)
    with Store(path) as store:
        assert store.table_version() == 3
        restored_in_place = store.table_id
    assert restored_in_place != first_id
    # restored by moving a copy into place (a new file)
    shutil.copyfile(path, tmp_path / "copy.sqlite")
    os.replace(tmp_path / "copy.sqlite", path)
    with Store(path) as store:
        assert store.table_id not in (first_id, restored_in_place)


def test_an_import_gives_a_fresh_table_id(tmp_path):
    path = tmp_path / "oni.sqlite"
    first_id = _store_at_version(path, 1)
    lines = tmp_path / "in.jsonl"
    lines.write_text(json.dumps({"kind": "annotation", "text": "You kill the newt!", "goal": "default",
                                 "prompt_version": "v", "model": "m", "label_mode": "logprob", "score": 1.0}) + "\n")
    with Store(path) as store:
        import_jsonl(store, lines)
        assert store.table_id != first_id
    with Store(path) as store:
        assert store.table_id != first_id


def _store_with_annotations(path, texts):  # type: ignore[no-untyped-def]
    with Store(path) as store:
        store.add_messages(dict.fromkeys(texts, 1))
        store.add_annotations(KEY, [Annotation(t, None, 1.0, "'Yes':-0.1") for t in texts])


def test_export_writes_texts_longer_than_the_default_limit(tmp_path):
    texts = [f"You read: {'x' * 3000} {i}" for i in range(1001)]  # a server run with --max-message-chars 4096
    _store_with_annotations(tmp_path / "oni.sqlite", texts)
    out = tmp_path / "labels.jsonl"
    with Store(tmp_path / "oni.sqlite", readonly=True) as store:
        assert export_jsonl(store, out) == (1001, 0)
    assert len(out.read_text().splitlines()) == 1001
    # importing it back checks the texts against the importing store's limit
    with Store(tmp_path / "small.sqlite") as store, pytest.raises(BadImportFile, match="(?s)line 1: .*over the limit of 1024"):
        import_jsonl(store, out)
    with Store(tmp_path / "big.sqlite") as store:
        assert import_jsonl(store, out, max_text_chars=4096) == (1001, 0)


def test_a_failed_export_leaves_the_previous_file_untouched(tmp_path, monkeypatch):
    _store_with_annotations(tmp_path / "oni.sqlite", [f"You kill the newt {i}!" for i in range(1001)])
    out = tmp_path / "labels.jsonl"
    out.write_text("the previous good export\n")
    out.chmod(0o644)
    with Store(tmp_path / "oni.sqlite", readonly=True) as store:
        assert export_jsonl(store, out) == (1001, 0)
        good = out.read_bytes()
        real = Store._all_answers

        def broken(kind):  # type: ignore[no-untyped-def]
            yield from list(real(store, kind))[:999]
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(store, "_all_answers", broken)
        with pytest.raises(sqlite3.OperationalError):
            export_jsonl(store, out)
    assert out.read_bytes() == good  # the previous export is untouched ...
    assert [p.name for p in tmp_path.iterdir() if "labels" in p.name] == ["labels.jsonl"]  # ... no leftovers
    assert out.stat().st_mode & 0o777 == 0o600  # owner-only, like the store


def test_import_takes_the_limit_of_the_server_that_serves_the_store(fake_llm, tmp_path):
    long_text = "You read: " + "y" * 2000
    lines = tmp_path / "in.jsonl"
    lines.write_text(json.dumps({"kind": "annotation", "text": long_text, "goal": "default", "prompt_version": "v",
                                 "model": "m", "label_mode": "logprob", "score": 1.0}) + "\n")
    store = tmp_path / "oni.sqlite"
    with BackgroundServer(fake_config(fake_llm, store, max_message_chars=4096)):
        pass  # the server notes its limit in its store

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "reward_server", *args], capture_output=True, text=True,
                              timeout=120, check=False)

    done = run("import", str(lines), "--store", str(store))
    assert done.returncode == 0 and "imported 1 annotations" in done.stdout, done.stderr
    done = run("import", str(lines), "--store", str(tmp_path / "fresh.sqlite"))
    assert done.returncode == 2 and "over the limit of 1024" in done.stderr
    done = run("import", str(lines), "--store", str(tmp_path / "fresh.sqlite"), "--max-message-chars", "2048")
    assert done.returncode == 0, done.stderr


def test_an_import_says_which_labels_a_default_server_will_not_use(tmp_path):
    """Stored answers are read only under the server's own question key, which holds the prompt's
    version: labels made with another prompt import fine and are then never used. Say so."""
    from reward_server import ServerConfig
    from reward_server.service.reward_service import annotation_key

    current = annotation_key(ServerConfig(store=tmp_path / "unused.sqlite"))
    older = current._replace(prompt_version="logprob-many-shot-parts-0000000000")
    with Store(tmp_path / "made.sqlite") as store:
        store.import_answers({"You kill the newt!": 1, "It's a wall.": 1}, {
            current: [Annotation("You kill the newt!", None, 2.0, "")],
            older: [Annotation("It's a wall.", None, -2.0, "")],
        }, {})
        export_jsonl(store, tmp_path / "labels.jsonl")
    done = subprocess.run([sys.executable, "-m", "reward_server", "import", str(tmp_path / "labels.jsonl"),
                           "--store", str(tmp_path / "new.sqlite")], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert done.returncode == 0, done.stderr
    assert "1 labels: --llm embedded/gemma-3-270m --goal default --label-mode logprob: a default server" in done.stdout
    assert "prompt version logprob-many-shot-parts-0000000000" in done.stderr and "will not use them" in done.stderr
