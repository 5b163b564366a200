"""The server warns when most of what agents report is paid: a policy farming the table's junk
(service/paid_watch.py). The block arithmetic first, then a real server with the fake judge."""

from __future__ import annotations

import logging

import httpx
import pytest

from oni_rl.train import server_scalars
from reward_server.runner import BackgroundServer
from reward_server.service.paid_watch import PaidShareWatch
from tests.conftest import fake_config
from tests.fake_llm import FakeLLMServer
from tests.helpers import stats, wait_for

GOLD, WALL = "$ - 5 gold pieces.", "It's a wall."


def pays_gold(text: str) -> bool:
    return text == GOLD


def test_the_share_is_that_of_the_last_closed_block_and_warns_once_per_crossing():
    watch = PaidShareWatch(window=100, warn_share=0.5)
    assert watch.add({GOLD: 60, WALL: 30}, pays_gold) is None and watch.share is None  # 90 reports: no block yet
    block = watch.add({GOLD: 10, WALL: 0}, pays_gold)  # 100 reports, 70 paid
    assert block is not None and block.share == pytest.approx(0.7) and block.top_paid == ((GOLD, 70),)
    assert watch.add({GOLD: 90, WALL: 10}, pays_gold) is None  # still above: said already
    assert watch.share == pytest.approx(0.9)
    assert watch.add({GOLD: 10, WALL: 90}, pays_gold) is None and watch.share == pytest.approx(0.1)
    again = watch.add({GOLD: 50, WALL: 50}, pays_gold)  # at the line counts, after falling well under it
    assert again is not None and again.share == pytest.approx(0.5)


def test_a_share_hovering_at_the_line_warns_once():
    """The next warning needs a block below 0.8 of the line (0.4 here), not just under it."""
    watch = PaidShareWatch(window=100, warn_share=0.5)
    shares = [0.55, 0.45, 0.55, 0.41, 0.6, 0.39, 0.5]
    warned = [watch.add({GOLD: round(100 * p), WALL: 100 - round(100 * p)}, pays_gold) is not None for p in shares]
    assert warned == [True, False, False, False, False, False, True]


def test_one_batch_larger_than_the_window_closes_a_block_of_its_own():
    """Counts a client saved while the server was away arrive as one batch: its block is counted
    whole and the warning says how many reports it held."""
    watch = PaidShareWatch(window=100, warn_share=0.5)
    block = watch.add({GOLD: 240, WALL: 10}, pays_gold)
    assert block is not None and block.reports == 250 and block.share == pytest.approx(0.96)
    assert "96% of the last 250 message reports" in block.warning() and repr(GOLD) in block.warning()
    assert watch.add({WALL: 99}, pays_gold) is None and watch.share == pytest.approx(0.96)  # next block still open


def test_a_zero_share_never_warns_and_a_bad_window_is_an_error():
    watch = PaidShareWatch(window=10, warn_share=0.0)
    assert watch.add({GOLD: 10}, pays_gold) is None and watch.share == 1.0
    with pytest.raises(ValueError, match="number of reports"):
        PaidShareWatch(window=0, warn_share=0.5)


def report(server: BackgroundServer, counts: dict[str, int]) -> None:
    reply = httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t, "count": c} for t, c in counts.items()]})
    reply.raise_for_status()


def test_a_server_whose_reports_are_mostly_paid_says_so_once(fake_llm: FakeLLMServer, tmp_path, caplog) -> None:
    """The fake judge pays gold and not the wall; agents that report gold 80 times in 100 are warned
    of, with the message named and the share in /v1/stats; the next such block says nothing more."""
    config = fake_config(fake_llm, tmp_path / "oni.sqlite", paid_share_window=100)
    with caplog.at_level(logging.WARNING, logger="reward_server"), BackgroundServer(config) as server:
        report(server, {GOLD: 0, WALL: 0})
        assert wait_for(lambda: stats(server)["labelled"] == 2)
        assert stats(server)["recent_paid_share"] is None
        report(server, {GOLD: 20, WALL: 80})
        assert wait_for(lambda: stats(server)["recent_paid_share"] is not None)
        assert stats(server)["recent_paid_share"] == pytest.approx(0.2)
        assert not [r for r in caplog.records if "table pays" in r.getMessage()]
        report(server, {GOLD: 80, WALL: 20})
        assert wait_for(lambda: stats(server)["recent_paid_share"] == pytest.approx(0.8))
        report(server, {GOLD: 90, WALL: 10})
        assert wait_for(lambda: stats(server)["recent_paid_share"] == pytest.approx(0.9))
        metrics = httpx.get(server.url + "/metrics").text
        scalars = server_scalars(server.url)
    warnings = [r.getMessage() for r in caplog.records if "table pays" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "80% of the last 100 message reports" in warnings[0] and repr(GOLD) in warnings[0]
    assert "--goal-counterexample" in warnings[0] and "--cross-episode-exponent" in warnings[0] and WALL not in warnings[0]
    assert "oni_recent_paid_share 0.9" in metrics
    assert scalars["oni/recent_paid_share"] == pytest.approx(0.9)  # the trainer's TensorBoard curve


@pytest.mark.parametrize("settings", [{"reward_model": "novelty"}, {"calibration": "quantile"}],
                         ids=["novelty", "a quota cut"])
def test_a_model_that_pays_most_messages_by_design_is_not_watched(fake_llm: FakeLLMServer, tmp_path, caplog,
                                                                  settings) -> None:
    config = fake_config(fake_llm, tmp_path / "oni.sqlite", paid_share_window=10, **settings)
    with caplog.at_level(logging.WARNING, logger="reward_server"), BackgroundServer(config) as server:
        report(server, {GOLD: 0, WALL: 0})
        report(server, {GOLD: 50, WALL: 50})
        assert stats(server)["messages"] == 2 and stats(server)["recent_paid_share"] is None
    assert not [r for r in caplog.records if "table pays" in r.getMessage()]
