"""The LLM misbehaves: errors and timeouts are retried, bad answers are stored as unparsable."""


import time

import httpx

from reward_server import ServerConfig
from reward_server.runner import BackgroundServer
from tests.conftest import fake_config
from tests.helpers import free_port, stats, wait_for


def send(server, *texts):
    r = httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t} for t in texts]})
    assert r.status_code == 200


def test_server_errors_are_retried_then_succeed(fake_llm, tmp_path):
    fake_llm.behaviour.fail_first = 2
    config = fake_config(fake_llm, tmp_path / "s.sqlite", llm_retries=3)
    with BackgroundServer(config) as server:
        send(server, "You kill the newt!")
        assert wait_for(lambda: stats(server)["labelled"] == 1)
        s = stats(server)
        assert s["llm_retries"] == 2 and s["llm_failures"] == 0


def test_rate_limits_are_retried(fake_llm, tmp_path):
    fake_llm.behaviour.fail_first, fake_llm.behaviour.fail_status = 1, 429
    with BackgroundServer(fake_config(fake_llm, tmp_path / "s.sqlite", llm_retries=2)) as server:
        send(server, "5 gold pieces.")
        assert wait_for(lambda: stats(server)["labelled"] == 1)
        assert stats(server)["llm_retries"] == 1


def test_timeouts_count_as_failures_and_the_message_is_kept(fake_llm, tmp_path):
    fake_llm.behaviour.delay = 3.0
    config = fake_config(fake_llm, tmp_path / "s.sqlite", llm_timeout=0.3, llm_retries=0)
    with BackgroundServer(config) as server:
        send(server, "You kill the newt!")
        assert wait_for(lambda: stats(server)["llm_failures"] >= 1)
        s = stats(server)
        assert s["labelled"] == 0 and s["queued"] + s["in_flight"] == 1
        assert "Timeout" in s["last_llm_error"] or "timed out" in s["last_llm_error"].lower()
        fake_llm.behaviour.delay = 0.0  # the LLM recovers: the kept message gets labelled
        assert wait_for(lambda: stats(server)["labelled"] == 1, timeout=30)


def test_unparsable_answers_are_stored_not_retried(fake_llm, tmp_path):
    fake_llm.behaviour.garbage = True
    with BackgroundServer(fake_config(fake_llm, tmp_path / "s.sqlite")) as server:
        send(server, "You kill the newt!", "That door is closed.")
        assert wait_for(lambda: stats(server)["unparsable"] == 2)
        rewards = httpx.get(server.url + "/v1/rewards", params={"since": 0}).json()["rewards"]
        assert rewards == {"You kill the newt!": 0.0, "That door is closed.": 0.0}
        assert fake_llm.behaviour.requests == 2


def test_generate_mode_parses_the_label_slot(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "s.sqlite", label_mode="generate")
    with BackgroundServer(config) as server:
        send(server, "You kill the newt!", "That door is closed.")
        assert wait_for(lambda: stats(server)["labelled"] == 2)
        rewards = httpx.get(server.url + "/v1/rewards", params={"since": 0}).json()["rewards"]
        assert rewards == {"You kill the newt!": 1.0, "That door is closed.": 0.0}
        assert "<label>" not in fake_llm.behaviour.questions[0].split("Please rate this message:")[1].split("\n")[0]


def test_permanent_errors_do_not_spin(fake_llm, tmp_path):
    fake_llm.behaviour.fail_first, fake_llm.behaviour.fail_status = 10**6, 401
    with BackgroundServer(fake_config(fake_llm, tmp_path / "s.sqlite", llm_retries=5)) as server:
        send(server, "You kill the newt!")
        assert wait_for(lambda: stats(server)["llm_failures"] >= 1)
        assert stats(server)["llm_retries"] == 0  # bad credentials are not retried


def test_empty_answers_are_stored_as_unparsable(fake_llm, tmp_path):
    fake_llm.behaviour.empty = True
    with BackgroundServer(fake_config(fake_llm, tmp_path / "s.sqlite")) as server:
        send(server, "You kill the newt!")
        assert wait_for(lambda: stats(server)["unparsable"] == 1)
        assert stats(server)["llm_failures"] == 0


def test_connection_refused_is_retried_and_the_server_stays_up(tmp_path):
    dead = free_port()  # nothing listens there
    config = ServerConfig(llm="openai/fake-judge", api_base=f"http://127.0.0.1:{dead}/v1", api_key="x",
                          store=tmp_path / "s.sqlite", port=0, calibration="fixed", llm_retries=1,
                          preflight=False)  # with the preflight on, a dead LLM at start is an exit
    with BackgroundServer(config) as server:
        send(server, "You kill the newt!")
        assert wait_for(lambda: stats(server)["llm_failures"] >= 1)
        s = stats(server)
        assert s["llm_retries"] >= 1 and "Connection" in s["last_llm_error"]
        assert s["queued"] + s["in_flight"] == 1  # kept for later
        assert httpx.get(server.url + "/healthz").status_code == 200


def test_circuit_opens_and_stops_calling_a_dead_llm(fake_llm, tmp_path):
    fake_llm.behaviour.fail_first, fake_llm.behaviour.fail_status = 10**6, 503
    config = fake_config(fake_llm, tmp_path / "s.sqlite", llm_retries=0, breaker_failures=3,
                         breaker_reset=600.0, concurrency=2)
    with BackgroundServer(config) as server:
        send(server, *[f"You kill the newt {i}!" for i in range(10)])
        assert wait_for(lambda: stats(server)["llm_circuit"] == "open")
        assert wait_for(lambda: stats(server)["llm_circuit_rejected"] >= 1)
        calls_at_open = fake_llm.behaviour.requests
        # the calls that opened it, plus at most one already in flight on the other worker
        assert 3 <= calls_at_open <= 3 + 2 - 1
        time.sleep(1.0)
        assert fake_llm.behaviour.requests == calls_at_open  # open: the LLM is left alone
        s = stats(server)
        assert s["llm_circuit_opened"] == 1 and s["llm_circuit"] == "open"
        assert s["queued"] + s["in_flight"] == 10 and s["labelled"] == 0
        metrics = httpx.get(server.url + "/metrics").text
        assert "oni_llm_circuit_open 1.0" in metrics


def test_circuit_probes_and_closes_when_the_llm_comes_back(fake_llm, tmp_path):
    fake_llm.behaviour.fail_first, fake_llm.behaviour.fail_status = 10**6, 503
    config = fake_config(fake_llm, tmp_path / "s.sqlite", llm_retries=0, breaker_failures=2,
                         breaker_reset=0.5, concurrency=2)
    with BackgroundServer(config) as server:
        texts = [f"You kill the newt {i}!" for i in range(6)]
        send(server, *texts)
        assert wait_for(lambda: stats(server)["llm_circuit_opened"] >= 1)
        fake_llm.behaviour.fail_first = 0  # the LLM is back
        assert wait_for(lambda: stats(server)["labelled"] == len(texts), timeout=30)
        s = stats(server)
        assert s["llm_circuit"] == "closed"
        rewards = httpx.get(server.url + "/v1/rewards", params={"since": 0}).json()["rewards"]
        assert all(rewards[t] == 1.0 for t in texts)


def test_a_rejected_request_is_stored_as_failed_and_not_asked_again(fake_llm, tmp_path):
    fake_llm.behaviour.fail_first, fake_llm.behaviour.fail_status = 1, 400
    config = fake_config(fake_llm, tmp_path / "s.sqlite", llm_retries=3, breaker_failures=1)
    with BackgroundServer(config) as server:
        send(server, "You kill the newt!")
        assert wait_for(lambda: stats(server)["judged"] == 1)
        s = stats(server)
        assert s["llm_rejected"] == 1 and s["llm_retries"] == 0 and s["llm_failures"] == 0
        assert s["llm_circuit"] == "closed" and s["labelled"] == 0  # a rejection says nothing of the LLM's health
        assert fake_llm.behaviour.requests == 1
        send(server, "5 gold pieces.")  # the next request goes out as usual
        assert wait_for(lambda: stats(server)["labelled"] == 1)
        raw = server.call(lambda service: service._run(
            lambda: service._store._db.execute("SELECT raw FROM annotations WHERE text = 'You kill the newt!'").fetchone()[0]))
        assert raw.startswith("rejected by the LLM")


def test_a_malformed_reply_is_stored_as_unparsable_and_the_workers_live_on(fake_llm, tmp_path):
    fake_llm.behaviour.malformed = True
    config = fake_config(fake_llm, tmp_path / "s.sqlite", concurrency=2)
    with BackgroundServer(config) as server:
        texts = [f"You kill the newt {i}!" for i in range(5)]
        send(server, *texts)
        assert wait_for(lambda: stats(server)["unparsable"] == 5)
        s = stats(server)
        assert s["malformed_replies"] == 5 and s["workers_alive"] == 2 and s["queued"] == 0
        fake_llm.behaviour.malformed = False
        send(server, "5 gold pieces.")
        assert wait_for(lambda: stats(server)["labelled"] == 1)


def test_an_unexpected_error_in_a_worker_is_counted_and_the_message_kept(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "s.sqlite", concurrency=2)
    with BackgroundServer(config) as server:
        judge = server.service.judge
        real_judge, failures = judge.judge, {"left": 3}

        async def flaky(message, goal):  # type: ignore[no-untyped-def]
            if failures["left"]:
                failures["left"] -= 1
                raise KeyError("a bug in a parser")
            return await real_judge(message, goal)

        judge.judge = flaky  # type: ignore[method-assign]
        server.service.annotator.failure_pause = 0.05
        send(server, "You kill the newt!", "5 gold pieces.")
        assert wait_for(lambda: stats(server)["labelled"] == 2)
        s = stats(server)
        assert s["worker_errors"] == 3 and s["workers_alive"] == 2
        assert "KeyError" in s["last_llm_error"]


def test_healthz_says_degraded_when_the_llm_stays_down(fake_llm, tmp_path):
    fake_llm.behaviour.fail_first, fake_llm.behaviour.fail_status = 10**6, 503
    config = fake_config(fake_llm, tmp_path / "s.sqlite", llm_retries=0, breaker_failures=1,
                         breaker_reset=0.2, degraded_after=0.5)
    with BackgroundServer(config) as server:
        assert httpx.get(server.url + "/healthz").status_code == 200
        send(server, "You kill the newt!")
        assert wait_for(lambda: httpx.get(server.url + "/healthz").status_code == 503, timeout=10)
        body = httpx.get(server.url + "/healthz").json()
        assert body["status"] == "degraded" and "circuit breaker" in body["reasons"][0]
        fake_llm.behaviour.fail_first = 0
        assert wait_for(lambda: httpx.get(server.url + "/healthz").status_code == 200, timeout=15)


def test_healthz_says_degraded_when_no_worker_runs(fake_llm, tmp_path):
    with BackgroundServer(fake_config(fake_llm, tmp_path / "s.sqlite", concurrency=2)) as server:
        async def stop_workers(service):  # type: ignore[no-untyped-def]
            for task in service.annotator._tasks[:2]:
                task.cancel()

        server.call(stop_workers)
        assert wait_for(lambda: httpx.get(server.url + "/healthz").status_code == 503)
        assert "no annotator worker" in httpx.get(server.url + "/healthz").json()["reasons"][0]
