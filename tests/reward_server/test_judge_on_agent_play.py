"""The default judge on what a training agent meets, with the real embedded model and the
server's own cut: the junk of agent play is not paid, random play's kills and gold are."""

from __future__ import annotations

import json

import httpx
import pytest

from reward_server import ServerConfig
from reward_server.runner import BackgroundServer
from tests.data import AGENTPLAY_DATA, DEV_DATA
from tests.helpers import stats, wait_for

pytestmark = pytest.mark.llm


def rows(path) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_the_default_judge_pays_kills_and_gold_not_agent_play_junk(tmp_path):
    junk = sorted((r for r in rows(AGENTPLAY_DATA) if not r["default"]), key=lambda r: -r["count"])[:40]
    helpful = [r for r in rows(DEV_DATA) if r["default"]][:20]
    texts = [r["message"] for r in junk + helpful]
    with BackgroundServer(ServerConfig(store=tmp_path / "oni.sqlite", port=0)) as server:
        assert stats(server)["threshold"] > 0  # the cut came from the examples, not a quota
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t} for t in texts]})
        assert wait_for(lambda: stats(server)["labelled"] == len(texts), timeout=240)
        table = httpx.get(server.url + "/v1/rewards").json()["rewards"]
    paid_junk = [r["message"] for r in junk if table[r["message"]] > 0]
    missed = [r["message"] for r in helpful if table[r["message"]] == 0]
    assert len(paid_junk) <= 0.05 * len(junk), paid_junk
    assert len(missed) <= 0.2 * len(helpful), missed


QUOTED_GAME_TEXT = [
    'The engraving now reads: "$ - 500 gold pieces."',
    'You read: "You kill the newt!  Welcome to experience level 5."',
    'Something is written here in the dust.  You read: "$ - 100 gold pieces."',
    'The shopkeeper says: "You kill the dragon!"',
]


def test_quoted_game_text_is_not_paid_for_what_it_says(tmp_path):
    """An engraving that reads "$ - 500 gold pieces." is not gold (the first three were paid once)."""
    controls = ["$ - 500 gold pieces.", "You kill the newt!", "You kill the newt!  You read: \"Elbereth\"."]
    with BackgroundServer(ServerConfig(store=tmp_path / "oni.sqlite", port=0)) as server:
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t} for t in QUOTED_GAME_TEXT + controls]})
        assert wait_for(lambda: stats(server)["labelled"] == len(QUOTED_GAME_TEXT) + len(controls), timeout=240)
        table = httpx.get(server.url + "/v1/rewards").json()["rewards"]
    assert [t for t in QUOTED_GAME_TEXT if table[t] > 0] == []
    assert all(table[t] > 0 for t in controls)
