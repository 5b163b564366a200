"""Bounded memory at a million messages: the change log, whole-table snapshots, the judge's
cache of message parts and the feature cache each have a cap, a setting and a counter."""

from __future__ import annotations

import gzip

import httpx

from reward_server.runner import BackgroundServer
from reward_server.service.reward_table import RewardTable
from tests.conftest import fake_config
from tests.helpers import stats, wait_for


def test_the_change_log_is_bounded_and_old_clients_get_the_whole_table():
    table = RewardTable(max_log_rows=10, max_delta_rows=6)
    for version in range(1, 8):  # 7 versions of 2 changed rows each: 14 rows, 10 kept
        table.apply({f"m{version}a": 1.0, f"m{version}b": 0.0}, version)
    assert table.log_rows <= 10 and table.log_evicted_rows == 14 - table.log_rows
    assert table.since(1) is None  # its changes fell out of the log: take the whole table
    assert table.since(6) == {"m7a": 1.0, "m7b": 0.0}
    assert len(table.since(4)) == 6  # versions 5-7: as big as a delta may be
    assert table.since(3) is None  # 8 rows: bigger than max_delta_rows, the whole table is cheaper
    assert table.since(7) == {} and table.since(0) is None and table.since(99) is None
    assert table.positive_share() == 0.5


def test_a_restarted_table_keeps_the_newest_versions_in_its_log():
    rows = [("a", 1.0, 1), ("b", 0.0, 2), ("c", 1.0, 3), ("d", 1.0, 3)]
    table = RewardTable(max_log_rows=2)
    table.load(rows, version=3)
    assert table.since(2) == {"c": 1.0, "d": 1.0}
    assert table.since(1) is None  # version 2 did not fit beside version 3's two rows
    roomier = RewardTable(max_log_rows=3)
    roomier.load(rows, version=3)
    assert roomier.since(1) == {"b": 0.0, "c": 1.0, "d": 1.0} and roomier.since(0) is None


def test_full_syncs_are_prepared_snapshots_sent_gzipped(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "s.sqlite", change_log_rows=5, max_delta_rows=5, batch_size=1)
    with BackgroundServer(config) as server:
        texts = [f"You kill the newt number {i}!" for i in range(40)]
        for text in texts:  # one row per version: the log can drop whole versions
            httpx.post(server.url + "/v1/messages", json={"messages": [{"text": text}]})
        assert wait_for(lambda: stats(server)["labelled"] == 40)
        raw = httpx.get(server.url + "/v1/rewards", params={"since": 1}, headers={"Accept-Encoding": "gzip"})
        assert raw.headers["content-encoding"] == "gzip"
        body = raw.json()  # httpx undoes the gzip
        assert body["full"] and body["rewards"] == {t: 1.0 for t in texts}
        assert body["version"] == stats(server)["table_version"]
        plain = httpx.get(server.url + "/v1/rewards", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.json() == body
        assert gzip.decompress(server.service.snapshots.latest.gzip) == plain.content
        s = stats(server)
        assert s["change_log_rows"] <= 5 and s["change_log_evicted_rows"] > 0
        assert s["snapshots_built"] >= 1 and s["snapshot_rows"] == 40 and s["snapshot_gzip_bytes"] > 0


def test_the_judges_cache_of_parts_is_bounded(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "s.sqlite", decompose=True, part_cache_size=3)
    with BackgroundServer(config) as server:
        lines = [f"You kill the newt {i}!  It's a wall." for i in range(6)]
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t} for t in lines]})
        assert wait_for(lambda: stats(server)["labelled"] == 6)
        s = stats(server)
        assert s["part_cache_entries"] == 3 and s["part_cache_evicted"] >= 4


def test_the_feature_cache_is_bounded_in_a_learning_server(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "s.sqlite", reward_model="classification", train_every=8,
                         train_interval=0.2, feature_cache_rows=10)
    texts = ([f"You kill the newt number {i}!" for i in range(12)]
             + [f"You see here {i} arrows." for i in range(12)])
    with BackgroundServer(config) as server:
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t} for t in texts]})
        assert wait_for(lambda: stats(server)["labelled"] == len(texts))
        assert wait_for(lambda: stats(server)["train_examples"] == len(texts))
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": "You kill the gnome lord!"}]})
        assert wait_for(lambda: httpx.get(server.url + "/v1/rewards").json()["rewards"].get(
            "You kill the gnome lord!") == 1.0)
        s = stats(server)
        table = httpx.get(server.url + "/v1/rewards").json()["rewards"]
    assert s["feature_cache_rows"] <= 10 and s["feature_cache_evicted"] > 0 and s["fit_failures"] == 0
    assert all(table[t] == (1.0 if "kill" in t else 0.0) for t in texts)
