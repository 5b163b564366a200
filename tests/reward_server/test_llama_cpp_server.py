"""The remote path with a real OpenAI-compatible server: llama.cpp's, serving the embedded Gemma.

What goes over HTTP must give the same labels as the embedded provider on the same messages
(the many-shot prompt as a plain-text completion), generate mode must store and serve its
answers, and with two servers behind litellm's Router one may die mid-run without losing a
message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from reward_server import ServerConfig
from reward_server.judging.embedded_llm import DEFAULT_EMBEDDED_MODEL
from reward_server.judging.judge import JudgeConfig, LLMJudge
from reward_server.runner import BackgroundServer
from tests.helpers import stats, wait_for
from tests.llama_server import SERVED_NAME, LlamaCppServer

pytestmark = pytest.mark.llm

MESSAGES = ["You kill the newt!", "$ - 5 gold pieces.", "It's a wall.", "What do you want to eat? [f or ?*]",
            "You see here a scroll labelled FOOBIE BLETCH."]


@pytest.fixture(scope="module")
def llama_server() -> Iterator[LlamaCppServer]:
    server = LlamaCppServer().start()
    yield server
    server.stop()


def remote_config(tmp_path, api_base, **overrides) -> ServerConfig:  # type: ignore[no-untyped-def]
    settings: dict[str, object] = {"llm": f"hosted_vllm/{SERVED_NAME}", "api_base": api_base,
                                   "store": tmp_path / "s.sqlite", "port": 0, "calibration": "fixed",
                                   "threshold": 0.0, "llm_timeout": 60.0}
    settings.update(overrides)
    return ServerConfig(**settings)


def embedded_scores(texts: list[str]) -> list[float]:
    async def score() -> list[float]:
        judge = LLMJudge(JudgeConfig(llm=DEFAULT_EMBEDDED_MODEL, prompt_style="many-shot", decompose=False))
        try:
            return [(await judge.judge(text, "default")).score for text in texts]  # type: ignore[misc]
        finally:
            await judge.aclose()

    return asyncio.run(score())


def test_the_server_labels_as_the_embedded_model_does(llama_server, tmp_path):
    config = remote_config(tmp_path, llama_server.api_base)
    assert config.endpoint == "completion" and config.prompt_style == "many-shot"
    with BackgroundServer(config) as server:  # the preflight asked it one question first
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t} for t in MESSAGES]})
        assert wait_for(lambda: stats(server)["labelled"] == len(MESSAGES), timeout=180)
        rows = httpx.post(server.url + "/v1/score", json={"messages": MESSAGES}).json()["scores"]
        table = httpx.get(server.url + "/v1/rewards").json()["rewards"]
        s = stats(server)
    remote = [row["score"] for row in rows]
    local = embedded_scores(MESSAGES)
    assert all(abs(r - e) < 0.3 for r, e in zip(remote, local, strict=True)), (remote, local)
    assert remote[1] > 0 > remote[2]  # gold helpful, a wall not: the list is being continued
    assert set(table) == set(MESSAGES)
    assert all(table[m] == float(row["score"] > 0) for m, row in zip(MESSAGES, rows, strict=True))
    assert s["unparsable"] == 0 and s["llm_failures"] == 0


def test_generate_mode_stores_and_serves_its_answers(llama_server, tmp_path):
    config = remote_config(tmp_path, llama_server.api_base, label_mode="generate", llm_max_tokens=48)
    assert config.endpoint == "chat"
    with BackgroundServer(config) as server:
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t} for t in MESSAGES[:2]]})
        assert wait_for(lambda: stats(server)["judged"] == 2, timeout=180)
        table = httpx.get(server.url + "/v1/rewards").json()["rewards"]
        answers = server.call(lambda service: service._run(
            lambda: service._store._db.execute("SELECT text, raw FROM annotations").fetchall()))
    assert set(table) == set(MESSAGES[:2])
    assert {text for text, _ in answers} == set(MESSAGES[:2]) and all(raw for _, raw in answers)
    # a 270M base model does not follow the chain-of-thought format: its answers pay 0, never a guess
    assert all(table[m] in (0.0, 1.0) for m in MESSAGES[:2])


def test_two_servers_one_killed_mid_run_loses_nothing(llama_server, tmp_path):
    second = LlamaCppServer().start()
    try:
        config = remote_config(tmp_path, [llama_server.api_base, second.api_base], concurrency=2)
        texts = [f"You see here {n} gold pieces." for n in range(2, 12)]
        with BackgroundServer(config) as server:
            httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t} for t in texts]})
            assert wait_for(lambda: stats(server)["labelled"] >= 2, timeout=120)
            second.kill()
            assert wait_for(lambda: stats(server)["labelled"] == len(texts), timeout=240)
            s = stats(server)
            table = httpx.get(server.url + "/v1/rewards").json()["rewards"]
        assert s["queued"] == s["in_flight"] == 0 and s["unparsable"] == 0
        assert set(table) == set(texts)
    finally:
        second.stop()
