"""Classification and ranking inside a real server (fake LLM: predictable labels and faults)."""

import json
import sqlite3

import httpx
import pytest

from reward_server.runner import BackgroundServer
from reward_server.storage.store import Store, StoredPreference
from reward_server.storage.transfer import BadImportFile, export_jsonl, import_jsonl
from tests.conftest import fake_config
from tests.helpers import stats, wait_for

# the fake judge calls messages with "kill" or "gold" helpful
TRAINING = [
    "You kill the newt!", "You kill the jackal!", "You kill the grid bug!", "You kill the sewer rat!",
    "$ - 3 gold pieces.", "$ - 17 gold pieces.", "You see here 4 gold pieces.",
    "It's a wall.", "It's solid stone.", "That door is closed.", "What a strange direction!",
    "You swap places with your kitten.", "The kitten picks up a scroll.", "Never mind.",
    "You can't go up here.", "In what direction?", "You see here a dagger.", "The door opens.",
]


def _post(server, texts):  # type: ignore[no-untyped-def]
    r = httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t} for t in texts]})
    assert r.status_code == 200, r.text


def _table(server) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return httpx.get(server.url + "/v1/rewards").json()["rewards"]


def _score(server, texts):  # type: ignore[no-untyped-def]
    return {row["message"]: row for row in httpx.post(server.url + "/v1/score", json={"messages": texts}).json()["scores"]}


def test_classification_rewards_messages_the_llm_never_saw(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "oni.sqlite", reward_model="classification",
                         train_every=len(TRAINING), train_interval=0.2)
    with BackgroundServer(config) as server:
        _post(server, TRAINING)
        assert wait_for(lambda: stats(server)["model_version"] >= 1 and stats(server)["queued"] == 0)
        assert wait_for(lambda: stats(server)["train_examples"] == len(TRAINING))
        s = stats(server)
        assert s["reward_model"] == "classification" and s["train_accuracy"] == 1.0
        asked = fake_llm.behaviour.requests
        unseen = _score(server, ["You kill the gnome lord!", "$ - 212 gold pieces.", "It's a wall.  It's a wall."])
        assert unseen["You kill the gnome lord!"]["reward"] == 1.0
        assert not unseen["You kill the gnome lord!"]["labelled"]
        assert unseen["$ - 212 gold pieces."]["reward"] == 1.0
        assert unseen["It's a wall.  It's a wall."]["reward"] == 0.0
        # a message new to the server is rewarded by the model before the LLM answers it
        fake_llm.behaviour.delay = 3.0
        version = httpx.get(server.url + "/v1/rewards").json()["version"]
        _post(server, ["You kill the hill orc!"])
        assert wait_for(lambda: _table(server).get("You kill the hill orc!") == 1.0, timeout=2.5)
        assert httpx.get(server.url + "/v1/rewards", params={"since": version}).json()["rewards"] == {
            "You kill the hill orc!": 1.0
        }
        assert fake_llm.behaviour.requests <= asked + 1  # /v1/score asked the LLM nothing
        fake_llm.behaviour.delay = 0.0
        table = _table(server)
    assert {t for t, r in table.items() if r > 0} == {t for t in table if "kill" in t or "gold" in t}


def test_the_trainer_survives_failed_publications_and_checkpoints(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "oni.sqlite", reward_model="classification",
                         train_every=4, train_interval=0.2)
    with BackgroundServer(config) as server:
        trainer = server.service.trainer
        failures = {"publish": 2, "checkpoint": 2}

        def failing(kind, real):  # type: ignore[no-untyped-def]
            async def call(*args):  # type: ignore[no-untyped-def]
                if failures[kind]:
                    failures[kind] -= 1
                    raise OSError(f"injected {kind} failure")
                return await real(*args)
            return call

        trainer._publish = failing("publish", trainer._publish)
        trainer._checkpoint = failing("checkpoint", trainer._checkpoint)
        _post(server, TRAINING[:8])
        assert wait_for(lambda: stats(server)["publish_failures"] >= 1 and stats(server)["checkpoint_failures"] >= 1)
        _post(server, TRAINING[8:])
        assert wait_for(lambda: failures == {"publish": 0, "checkpoint": 0})
        assert server.call(lambda service: service.annotator.idle(30))
        version = stats(server)["model_version"]
        _post(server, ["You kill the hill orc!", "It's a wall.  It's solid stone."])  # more fits follow
        assert wait_for(lambda: stats(server)["model_version"] > version)
        s = stats(server)
        assert s["publish_failures"] == 2 and s["checkpoint_failures"] == 2 and s["fit_failures"] == 0
        # every row was published in the end, the failed publications' included
        table = _table(server)
        assert all(table[t] == (1.0 if "kill" in t or "gold" in t else 0.0) for t in TRAINING)
        assert server.call(lambda service: service._run(service._store.load_checkpoint, service._checkpoint_name))


def test_classification_restart_serves_the_checkpoint_and_asks_nothing(fake_llm, tmp_path):
    store = tmp_path / "oni.sqlite"
    config = fake_config(fake_llm, store, reward_model="classification", train_every=len(TRAINING),
                         train_interval=0.2)
    with BackgroundServer(config) as server:
        _post(server, TRAINING)
        assert wait_for(lambda: stats(server)["train_examples"] == len(TRAINING))
        before = stats(server)
        table = _table(server)
    asked = fake_llm.behaviour.requests
    fake_llm.behaviour.fail_first = 10**6  # the LLM is down: anything asked would fail
    with BackgroundServer(config) as server:
        at_start = stats(server)
        assert at_start["model_version"] >= before["model_version"]  # restored, not refit from 0
        assert _table(server) == table
        assert _score(server, ["You kill the gnome lord!"])["You kill the gnome lord!"]["reward"] == 1.0
        assert wait_for(lambda: stats(server)["fits"] >= 1)  # and training goes on from the store
        assert _table(server) == table
    assert fake_llm.behaviour.requests == asked


@pytest.mark.parametrize("label_mode", ["logprob", "generate"])
def test_ranking_learns_the_judges_preferences(fake_llm, tmp_path, label_mode):
    config = fake_config(fake_llm, tmp_path / "oni.sqlite", reward_model="ranking", label_mode=label_mode,
                         pairs_per_message=6, train_every=10**6, train_interval=0.2, rank_threshold=0.0)
    with BackgroundServer(config) as server:
        _post(server, TRAINING)
        assert wait_for(lambda: stats(server)["preferences"] >= 5 * len(TRAINING))
        assert server.call(lambda service: service.annotator.idle(30))
        expected = stats(server)["preferences"]  # fewer than 6 per message if two drew each other
        assert wait_for(lambda: stats(server)["train_examples"] >= expected)
        s = stats(server)
        assert s["labelled"] == 0 and s["model_version"] >= 1
        table = _table(server)
        with Store(tmp_path / "oni.sqlite", readonly=True) as store_view:  # beside the running server
            stored = list(store_view.preferences(server.service.rank_key))
        # Each answer is stored once: the counter, bumped after the store write lands, catches up
        # with the store and no further (a duplicate row would keep the store ahead of it).
        assert wait_for(lambda: stats(server)["preferences"] >= len(stored))
    helpful = {t for t in TRAINING if "kill" in t or "gold" in t}
    assert all(p.first != p.second for p in stored)
    assert min(table[t] for t in helpful) > 0  # every helpful message pays ...
    assert max(table[t] for t in set(TRAINING) - helpful) == 0.0  # ... and no other does


def test_ranking_from_labels_asks_each_message_once_and_no_pair(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "oni.sqlite", reward_model="ranking", preferences="labels",
                         pairs_per_message=6, train_every=10**6, train_interval=0.2, rank_threshold=0.0)
    with BackgroundServer(config) as server:
        _post(server, TRAINING)
        assert wait_for(lambda: stats(server)["labelled"] == len(TRAINING))
        assert wait_for(lambda: stats(server)["train_examples"] >= 4 * len(TRAINING)
                        and stats(server)["train_examples"] == stats(server)["preferences"])
        table = _table(server)
    assert fake_llm.behaviour.requests == len(TRAINING)  # one labelling question per message, no pairs
    assert not any("Message 1:" in q for q in fake_llm.behaviour.questions)
    helpful = {t for t in TRAINING if "kill" in t or "gold" in t}
    assert min(table[t] for t in helpful) > 0 and max(table[t] for t in set(TRAINING) - helpful) == 0.0
    # a restart rebuilds the preferences from the stored labels and asks nothing
    with BackgroundServer(config) as server:
        assert stats(server)["preferences"] >= 4 * len(TRAINING)
    assert fake_llm.behaviour.requests == len(TRAINING)


def test_ranking_restart_asks_only_for_missing_comparisons(fake_llm, tmp_path):
    store = tmp_path / "oni.sqlite"
    config = fake_config(fake_llm, store, reward_model="ranking", pairs_per_message=2, train_interval=0.2)
    with BackgroundServer(config) as server:
        _post(server, TRAINING)
        assert wait_for(lambda: stats(server)["preferences"] >= len(TRAINING))
        assert server.call(lambda service: service.annotator.idle(30))  # asked, stored, flushed
        rank_key = server.service.rank_key
    with Store(store) as db:  # what is durable (on a loaded machine a pair may land during shutdown)
        held = sum(1 for _ in db.preferences(rank_key))
    asked = fake_llm.behaviour.requests
    with BackgroundServer(config) as server:
        assert stats(server)["preferences"] == held
        _post(server, ["You kill the hill orc!"])
        assert wait_for(lambda: stats(server)["preferences"] >= held + 2)
        assert server.call(lambda service: service.annotator.idle(30))
        now = stats(server)["preferences"]
    # nothing stored was asked again: every request after the restart is a new preference, and
    # the new message's two pairs are among them (more only if the first server stopped mid-way)
    assert fake_llm.behaviour.requests - asked == now - held >= 2


def test_export_then_import_seeds_another_store(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "a.sqlite")
    with BackgroundServer(config) as server:
        _post(server, TRAINING)
        assert wait_for(lambda: stats(server)["labelled"] == len(TRAINING))
        table = _table(server)
    with Store(tmp_path / "a.sqlite") as store:
        assert export_jsonl(store, tmp_path / "labels.jsonl") == (len(TRAINING), 0)
    lines = [json.loads(line) for line in (tmp_path / "labels.jsonl").read_text().splitlines()]
    assert {line["text"] for line in lines} == set(TRAINING)
    with Store(tmp_path / "b.sqlite") as store:
        assert import_jsonl(store, tmp_path / "labels.jsonl") == (len(TRAINING), 0)
    asked = fake_llm.behaviour.requests
    with BackgroundServer(config.model_copy(update={"store": tmp_path / "b.sqlite"})) as server:
        assert _table(server) == table  # the imported labels are served at once ...
    assert fake_llm.behaviour.requests == asked  # ... and never asked again


@pytest.mark.parametrize(
    "bad_line",
    [b"not json", b'{"kind": "verdict"}', b'{"kind": "annotation", "text": "x"}', b"\xff\xfe\x00 bytes",
     (b'{"kind": "annotation", "text": "x", "goal": "default", "prompt_version": "v", "model": "m", '
      b'"label_mode": "logprob", "label": 7}'),
     *(b'{"kind": "annotation", "text": "x", "goal": "default", "prompt_version": "v", "model": "m", '
       b'"label_mode": "logprob", "score": ' + number + b"}" for number in (b"NaN", b"Infinity", b"-Infinity", b"1e999")),
     *(b'{"kind": "annotation", "text": ' + text + b', "goal": "default", "prompt_version": "v", "model": "m", '
       b'"label_mode": "logprob", "score": 1.0}' for text in (b'""', b'"   "', b'"a\\u0000b"', b'"' + b"x" * 1025 + b'"')),
     (b'{"kind": "preference", "first": "x", "second": "", "goal": "default", "prompt_version": "v", '
      b'"model": "m", "label_mode": "logprob", "score": 1.0}')],
)
def test_a_bad_import_line_is_reported_and_nothing_is_imported(tmp_path, bad_line):
    good = {"kind": "annotation", "text": "You kill the newt!", "goal": "default", "prompt_version": "v",
            "model": "m", "label_mode": "logprob", "label": None, "score": 1.0, "raw": "'Yes':-0.1"}
    path = tmp_path / "in.jsonl"
    path.write_bytes(json.dumps(good).encode() + b"\n" + bad_line + b"\n")
    with Store(tmp_path / "oni.sqlite") as store:
        with pytest.raises(BadImportFile, match="line 2"):
            import_jsonl(store, path)
        assert store.message_count() == 0


def test_an_import_is_one_transaction(tmp_path, monkeypatch):
    lines = [{"kind": "annotation", "text": f"You kill the newt {i}!", "goal": "default", "prompt_version": "v",
              "model": "m", "label_mode": "logprob", "score": 1.0} for i in range(3)]
    lines.append({"kind": "preference", "first": "a", "second": "b", "goal": "default", "prompt_version": "v",
                  "model": "m", "label_mode": "logprob", "score": 1.0})
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))

    with Store(tmp_path / "oni.sqlite") as store:
        insert = store._insert_answers

        def disk_full(kind, key, rows):  # type: ignore[no-untyped-def]
            if kind is StoredPreference:  # the last write of the import: messages and annotations are in
                raise sqlite3.OperationalError("database or disk is full")
            return insert(kind, key, rows)

        monkeypatch.setattr(store, "_insert_answers", disk_full)
        with pytest.raises(sqlite3.OperationalError):
            import_jsonl(store, path)
        assert store.message_count() == 0
        assert store._db.execute("SELECT COUNT(*) FROM annotations").fetchone()[0] == 0


def test_export_and_import_commands(fake_llm, tmp_path):
    import subprocess
    import sys

    with BackgroundServer(fake_config(fake_llm, tmp_path / "a.sqlite")) as server:
        _post(server, TRAINING[:4])
        assert wait_for(lambda: stats(server)["labelled"] == 4)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "reward_server", *args], capture_output=True, text=True,
                              timeout=120, check=False)

    out = run("export", str(tmp_path / "x.jsonl"), "--store", str(tmp_path / "a.sqlite"))
    assert out.returncode == 0 and "exported 4 annotations and 0 preferences" in out.stdout
    assert (tmp_path / "x.jsonl").stat().st_mode & 0o777 == 0o600  # owner-only, like the store
    out = run("export", str(tmp_path / "y.jsonl"), "--store", str(tmp_path / "missing.sqlite"))
    assert out.returncode == 2 and "no such store" in out.stderr
    assert not (tmp_path / "missing.sqlite").exists() and not (tmp_path / "y.jsonl").exists()
    out = run("import", str(tmp_path / "x.jsonl"), "--store", str(tmp_path / "b.sqlite"))
    assert out.returncode == 0 and "imported 4 annotations" in out.stdout
    (tmp_path / "bad.jsonl").write_bytes(b"\xff\n")
    out = run("import", str(tmp_path / "bad.jsonl"), "--store", str(tmp_path / "b.sqlite"))
    assert out.returncode == 2 and "nothing imported: line 1" in out.stderr
    assert run("import", str(tmp_path / "missing.jsonl")).returncode == 2
