"""Messages in → LLM annotations → table versions → RewardClient; restart loses nothing."""

import time

import httpx

from oni_wrappers import RewardClient
from reward_server.runner import BackgroundServer
from tests.conftest import fake_config
from tests.fake_llm import judged_message
from tests.helpers import stats, wait_for

MESSAGES = ["You kill the newt!", "That door is closed.", "5 gold pieces.", "It's solid stone.",
            "You see here a lichen corpse.", "You kill the jackal!"]
HELPFUL = {"You kill the newt!", "5 gold pieces.", "You kill the jackal!"}


def test_messages_get_labelled_and_reach_the_client(fake_server, fake_llm):
    client = RewardClient(fake_server.url, sync_interval=0.05)
    client.ensure_running()
    try:
        for message in MESSAGES:
            client.observe(message)
        assert wait_for(lambda: stats(fake_server)["labelled"] == len(MESSAGES))
        assert client.flush()
        assert wait_for(lambda: all(client.table.get(m) == float(m in HELPFUL) for m in MESSAGES))
        assert client.version == stats(fake_server)["table_version"] > 1
        assert fake_llm.behaviour.requests == len(MESSAGES)  # one question per message
        # each message was asked about exactly once, JSON-quoted at the end of the prompt
        asked = {judged_message(q) for q in fake_llm.behaviour.questions}
        assert asked == {f'"{m}"' for m in MESSAGES}
    finally:
        client.close()


def test_deltas_carry_only_changes(fake_server):
    httpx.post(fake_server.url + "/v1/messages", json={"messages": [{"text": m} for m in MESSAGES]})
    assert wait_for(lambda: stats(fake_server)["labelled"] == len(MESSAGES))
    v = stats(fake_server)["table_version"]
    assert httpx.get(fake_server.url + "/v1/rewards", params={"since": v}).json()["rewards"] == {}
    httpx.post(fake_server.url + "/v1/messages", json={"messages": [{"text": "You kill the lichen!"}]})
    assert wait_for(lambda: stats(fake_server)["labelled"] == len(MESSAGES) + 1)
    delta = httpx.get(fake_server.url + "/v1/rewards", params={"since": v}).json()
    assert delta["full"] is False and delta["rewards"] == {"You kill the lichen!": 1.0}
    full = httpx.get(fake_server.url + "/v1/rewards", params={"since": 0}).json()
    assert full["full"] is True and len(full["rewards"]) == len(MESSAGES) + 1


def test_restart_on_same_store_asks_nothing_twice(fake_llm, tmp_path):
    store = tmp_path / "oni.sqlite"
    with BackgroundServer(fake_config(fake_llm, store)) as server:
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": m, "count": 3} for m in MESSAGES]})
        assert wait_for(lambda: stats(server)["labelled"] == len(MESSAGES))
        table = httpx.get(server.url + "/v1/rewards", params={"since": 0}).json()
    asked_before = fake_llm.behaviour.requests
    with BackgroundServer(fake_config(fake_llm, store)) as server:
        again = httpx.get(server.url + "/v1/rewards", params={"since": 0}).json()
        assert again == table  # same version, same rows
        s = stats(server)
        assert s["labelled"] == len(MESSAGES) and s["queued"] == 0 and s["messages"] == len(MESSAGES)
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": m} for m in MESSAGES]})
        time.sleep(0.5)
    assert fake_llm.behaviour.requests == asked_before


def test_queued_messages_survive_a_restart(fake_llm, tmp_path):
    store = tmp_path / "oni.sqlite"
    fake_llm.behaviour.fail_first = 10**6  # the LLM is down: nothing gets labelled
    config = fake_config(fake_llm, store, llm_retries=0)
    with BackgroundServer(config) as server:
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": m} for m in MESSAGES]})
        assert wait_for(lambda: stats(server)["llm_failures"] > 0)
        assert stats(server)["labelled"] == 0
    fake_llm.behaviour.fail_first = 0  # the LLM is back
    with BackgroundServer(config) as server:
        assert wait_for(lambda: stats(server)["labelled"] == len(MESSAGES))
        rewards = httpx.get(server.url + "/v1/rewards", params={"since": 0}).json()["rewards"]
        assert {m for m, r in rewards.items() if r > 0} == HELPFUL


def test_changing_the_goal_relabels_instead_of_reusing(fake_llm, tmp_path):
    store = tmp_path / "oni.sqlite"
    with BackgroundServer(fake_config(fake_llm, store)) as server:
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": m} for m in MESSAGES]})
        assert wait_for(lambda: stats(server)["labelled"] == len(MESSAGES))
    fake_llm.behaviour.positive_words = ("gold",)
    with BackgroundServer(fake_config(fake_llm, store, goal="gold")) as server:
        assert wait_for(lambda: stats(server)["labelled"] == len(MESSAGES))
        rewards = httpx.get(server.url + "/v1/rewards", params={"since": 0}).json()["rewards"]
        assert {m for m, r in rewards.items() if r > 0} == {"5 gold pieces."}


def test_score_endpoint(fake_server):
    httpx.post(fake_server.url + "/v1/messages", json={"messages": [{"text": m} for m in MESSAGES]})
    assert wait_for(lambda: stats(fake_server)["labelled"] == len(MESSAGES))
    out = httpx.post(fake_server.url + "/v1/score", json={"messages": ["5 gold pieces.", "never seen"]}).json()
    first, second = out["scores"]
    assert first["labelled"] and first["reward"] == 1.0 and first["score"] > 0
    assert not second["labelled"] and second["reward"] == 0.0


def test_client_resyncs_when_another_store_appears_behind_the_same_url(fake_llm, tmp_path):
    """A server restarted on the same port with a different store: the client must not apply
    deltas computed against the wrong version sequence, even if the new one is further along."""
    first = BackgroundServer(fake_config(fake_llm, tmp_path / "a.sqlite")).start()
    port = first.port
    client = RewardClient(first.url, sync_interval=0.05, timeout=1.0)
    client.ensure_running()
    try:
        client.observe("You kill the newt!")
        assert wait_for(lambda: client.table.get("You kill the newt!") == 1.0)
        first_id, first_version = client.table_id, client.version
        first.stop()
        # A store whose version is far ahead of the client's, with other messages.
        with BackgroundServer(fake_config(fake_llm, tmp_path / "b.sqlite", port=port)) as second:
            for i in range(first_version + 5):
                httpx.post(second.url + "/v1/messages", json={"messages": [{"text": f"$ - {i} gold pieces."}]})
            assert wait_for(lambda: stats(second)["labelled"] == first_version + 5)
            assert wait_for(lambda: client.table_id not in (None, first_id) and client.table.get("$ - 1 gold pieces.") == 1.0)
            assert "You kill the newt!" not in client.table  # the old store's rows are gone
            assert client.stats.full_syncs >= 1
    finally:
        client.close()


def test_messages_beyond_the_queue_cap_wait_in_the_store_and_get_labelled(fake_llm, tmp_path):
    texts = [f"You kill the capped newt {i}!" for i in range(30)]
    with BackgroundServer(fake_config(fake_llm, tmp_path / "s.sqlite", max_queue=5, concurrency=2)) as server:
        r = httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t} for t in texts]})
        assert r.json()["queued"] <= 5
        assert wait_for(lambda: stats(server)["labelled"] == len(texts), timeout=30)
        s = stats(server)
        assert s["deferred"] >= len(texts) - 5 and s["queued"] == 0
        assert fake_llm.behaviour.requests == len(texts)  # each asked once


def test_restart_with_a_backlog_over_the_cap_labels_everything(fake_llm, tmp_path):
    store = tmp_path / "s.sqlite"
    texts = [f"You kill the backlog newt {i}!" for i in range(25)]
    fake_llm.behaviour.fail_first = 10**6  # first run: the LLM is down, everything stays queued
    with BackgroundServer(fake_config(fake_llm, store, llm_retries=0)) as server:
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t} for t in texts]})
        assert wait_for(lambda: stats(server)["messages"] == len(texts))
    fake_llm.behaviour.fail_first = 0
    with BackgroundServer(fake_config(fake_llm, store, max_queue=4)) as server:
        assert wait_for(lambda: stats(server)["labelled"] == len(texts), timeout=30)
        assert stats(server)["deferred"] >= len(texts) - 4
