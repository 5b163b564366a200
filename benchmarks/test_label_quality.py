"""The evaluation code behind benchmarks/label_quality.py (metrics, calibration, variants)."""

import argparse
import asyncio
import json
import math

import pytest

from benchmarks.label_quality import (
    VARIANTS,
    Scored,
    calibrated_predictions,
    confusion,
    roc_auc,
    score_variant,
    with_counterexamples,
    zscore,
)
from reward_server.judging.prompts import PROMPT_STYLES
from tests.fake_llm import judged_message


def test_auc_perfect_reversed_and_chance():
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert roc_auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]) == 0.5  # ties count half


def test_auc_matches_pairwise_definition():
    scores = [0.3, -1.0, 2.0, 0.3, 0.7, -0.2, 0.3]
    labels = [1, 0, 1, 0, 0, 1, 1]
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    pairs = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    assert roc_auc(scores, labels) == pytest.approx(pairs / (len(pos) * len(neg)))


def test_auc_undefined_without_both_classes():
    assert math.isnan(roc_auc([0.1, 0.2], [0, 0]))


def test_confusion_and_f1():
    c = confusion([1, 1, 0, 0, 1], [1, 0, 1, 0, 1])
    assert (c.tp, c.fp, c.fn, c.tn) == (2, 1, 1, 1)
    assert c.f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert c.positive_share == pytest.approx(3 / 5)
    assert confusion([0, 0], [0, 0]).f1 == 0.0


def test_calibrated_predictions_label_the_requested_share():
    scores = [float(i) for i in range(100)]
    predicted, threshold = calibrated_predictions(scores, 0.25)
    assert sum(predicted) == 25 and predicted[-25:] == [1] * 25
    assert 74 < threshold < 75


def test_zscore():
    z = zscore([1.0, 2.0, 3.0])
    assert sum(z) == pytest.approx(0.0) and z[0] < z[1] < z[2]
    assert zscore([2.0, 2.0]) == [0.0, 0.0]


def test_every_variant_names_real_options():
    for name, variant in VARIANTS.items():
        assert variant.prompt_style in PROMPT_STYLES, name
        assert variant.label_mode in ("logprob", "generate"), name
        assert all(member in VARIANTS for member in variant.ensemble_of), name


def test_variants_run_through_the_server_judge(fake_llm):
    """Each variant's scores come from the server's judge (here a loopback fake LLM)."""
    args = argparse.Namespace(llm="openai/fake", api_base=[fake_llm.api_base], api_key="x", max_tokens=64,
                              llm_endpoint="auto")
    messages = ["You kill the newt!  It's a wall.", "That door is closed.", "5 gold pieces."]
    cache: dict = {}
    paper = asyncio.run(score_variant("paper", messages, "default", args, cache))
    assert paper.scores[0] > 0 and paper.scores[1] < 0 and paper.scores[2] > 0 and paper.rate > 0
    # the cut the server would set: the fake separates the calibration examples by keyword
    assert -2.3 < paper.cut < 2.3
    many_shot = asyncio.run(score_variant("many-shot", messages, "default", args, cache))
    assert many_shot.scores == paper.scores  # the fake judges the open slot alone, whatever the prompt
    decomposed = asyncio.run(score_variant("paper-decomposed", messages, "default", args, cache))
    assert decomposed.scores == paper.scores  # best part: the kill decides the first line
    generated = asyncio.run(score_variant("generate", messages, "default", args, cache))
    assert generated.scores == [1.0, 0.0, 1.0] and generated.cut == 0.5
    ensemble = asyncio.run(score_variant("ensemble", messages, "default", args, cache))
    assert len(ensemble.scores) == 3 and ensemble.scores[1] < ensemble.scores[0]
    asked = [json.loads(judged_message(q)) for q in fake_llm.behaviour.questions if "Message: " in q]
    assert "You kill the newt!" in asked and "It's a wall." in asked  # decomposition asked the parts


def pair_args(fake_llm, preferences: str) -> argparse.Namespace:  # type: ignore[no-untyped-def]
    return argparse.Namespace(llm="openai/fake", api_base=[fake_llm.api_base], api_key="x", pairs=8, goal="default",
                              ranking_style=None, llm_endpoint="auto", max_tokens=64, preferences=preferences)


def test_pairwise_accuracy_reads_the_servers_ranking_judge(fake_llm):
    """The fake prefers messages with "kill"/"gold": every pair is judged right, whichever is first."""
    from benchmarks.label_quality import pairwise_accuracy

    args = pair_args(fake_llm, "pairwise")
    messages = ["You kill the newt!", "It's a wall.", "5 gold pieces.", "That door is closed."]
    accuracy, bias = asyncio.run(pairwise_accuracy(messages, [1, 0, 1, 0], args))
    assert accuracy == 1.0 and abs(bias) < 1e-9  # helpful first in every other pair: the biases cancel
    assert any("Message 1:" in q for q in fake_llm.behaviour.questions)
    fake_llm.behaviour.positive_words = ("wall", "door")  # a judge that prefers the wrong message
    accuracy, _ = asyncio.run(pairwise_accuracy(messages, [1, 0, 1, 0], args))
    assert accuracy == 0.0


def test_pairwise_accuracy_from_labels_asks_each_message_once(fake_llm):
    from benchmarks.label_quality import pairwise_accuracy

    args = pair_args(fake_llm, "labels")
    messages = ["You kill the newt!", "It's a wall.", "5 gold pieces.", "That door is closed."]
    accuracy, _ = asyncio.run(pairwise_accuracy(messages, [1, 0, 1, 0], args))
    assert accuracy == 1.0
    assert fake_llm.behaviour.requests <= len(messages)
    assert not any("Message 1:" in q for q in fake_llm.behaviour.questions)


def test_naming_the_junk_paid_most_often_raises_the_cut_above_it():
    """Junk calibration at -3 and -1 (cut -1); the table pays junk at 0.5 (seen 100 times) and 0.2
    (10 times) and the helpful message at 2. Naming one counterexample names the 100-times message:
    the cut rises to 0.5, the 0.2 message is unpaid too (scored below it), the helpful one stays paid."""
    messages = ["helpful", "junk-often", "junk-rare", "junk-low"]
    labels, counts, scores = [1, 0, 0, 0], [5, 100, 10, 1000], [2.0, 0.5, 0.2, -2.0]
    scored = Scored(scores, 1.0, -1.0, ((-3.0, 0), (-1.0, 0)))
    paid = [int(s > scored.cut) for s in scores]
    row, named = with_counterexamples("T", messages, labels, counts, scored, paid, 1)
    assert row == "| T | 1 | +0.50 | 1.000 | 0.000 | 0.0000 | 0.0000 |" and named == ["junk-often"]
    row, named = with_counterexamples("T", messages, labels, counts, Scored([2.0, 0.5, 0.7, -2.0], 1.0, -1.0,
                                                                            ((-1.0, 0),)), [1, 1, 1, 0], 2)
    assert named == ["junk-often", "junk-rare"]  # the paid junk, most often shown first
    row, _ = with_counterexamples("T", messages, labels, counts, Scored([2.0, 0.5, 0.7, -2.0], 1.0, -1.0,
                                                                        ((-1.0, 0),)), [1, 1, 1, 0], 1)
    assert row == "| T | 1 | +0.50 | 1.000 | 0.500 | 0.0090 | 0.0099 |"  # the rarer junk scores above it
