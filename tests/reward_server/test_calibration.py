"""The log-odds cut: set from the judge's evidence on labelled messages, the share only a ceiling,
and the flips a moved cut causes found without scanning the table."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reward_server.judging.prompts import GOALS, calibration_examples, worked_examples
from reward_server.models.calibration import ThresholdCalibrator, evidence_cut
from reward_server.models.labels import Labels
from reward_server.storage.store import Annotation
from tests.data import AGENTPLAY_DATA, DEV_DATA


def test_separable_evidence_cuts_in_the_middle_of_the_gap():
    assert evidence_cut([1.0, 2.0, 3.0], [-2.0, 0.2]) == pytest.approx(0.6)


def test_overlapping_evidence_weighs_a_paid_junk_message_twice():
    # cutting at 0.7 misses one helpful message (cost 1); cutting below 0 pays two unhelpful ones (cost 4)
    assert evidence_cut([0.0, 1.0, 2.0], [0.3, 0.4, -1.0]) == pytest.approx(0.7)
    assert evidence_cut([0.0, 1.0, 2.0], [0.3, -1.0], false_positive_cost=0.5) == pytest.approx(-0.5)
    with pytest.raises(ValueError):
        evidence_cut([1.0], [])


def test_without_helpful_evidence_the_cut_is_the_highest_junk_score():
    """A goal written as text with no examples: pay only what beats every message known to help no goal."""
    assert evidence_cut([], [0.3, -1.0, 0.1]) == 0.3


def test_the_share_is_a_ceiling_not_a_quota():
    cal = ThresholdCalibrator("examples", positive_share=0.25, min_samples=4)
    cal.evidence = 1.0
    for score in [-3.0, -2.0, -1.5, -1.0, 0.0, 0.5, 0.9, 1.2]:  # junk: one in eight above the cut
        cal.add(score)
    assert cal.threshold == 1.0 and cal.label(1.2) == 1 and cal.label(0.9) == 0
    for score in [2.0, 2.5, 3.0, 3.5, 4.0, 4.5]:  # a judge that calls nearly everything helpful
        cal.add(score)
    assert cal.threshold > 1.0
    assert sum(cal.label(s) for s in cal._sorted) <= 0.25 * cal.samples + 1


def test_before_the_examples_are_scored_the_fixed_cut_holds():
    cal = ThresholdCalibrator("examples", fixed_threshold=0.5, min_samples=100)
    assert cal.threshold == 0.5
    cal.evidence = -0.3
    assert cal.threshold == -0.3


def labelled_messages() -> set[str]:
    return {json.loads(line)["message"] for path in (DEV_DATA, AGENTPLAY_DATA)
            for line in path.read_text().splitlines() if line.strip()}


@pytest.mark.parametrize("goal", GOALS)
def test_calibration_messages_are_held_out(goal):
    examples = calibration_examples(goal)
    assert sum(v for _, v in examples) >= 3 or goal == "stairs" and sum(v for _, v in examples) >= 3
    assert sum(1 - v for _, v in examples) >= 10
    in_prompt = {m for m, _ in worked_examples(goal, "many-shot")}
    texts = {m for m, _ in examples}
    assert not texts & in_prompt  # never seen in the prompt: they test it
    assert not texts & labelled_messages()  # and none is a message of the labelled files
    assert not in_prompt & labelled_messages()


def full_recomputation(scores: dict[str, float], threshold: float) -> dict[str, float]:
    return {text: float(score > threshold) for text, score in scores.items()}


@settings(max_examples=60, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.tuples(st.integers(0, 60), st.floats(-5, 5, allow_nan=False)), min_size=1, max_size=20),
        min_size=1, max_size=12,
    ),
    share=st.floats(0.05, 0.6),
    evidence=st.one_of(st.none(), st.floats(-2, 2, allow_nan=False)),
)
def test_incremental_labels_equal_a_full_recomputation(batches, share, evidence):
    """Whatever the order, re-scores and cut moves: the published rows match labelling every
    score against the current cut from scratch."""
    calibrator = ThresholdCalibrator("examples", positive_share=share, min_samples=8)
    model = Labels(calibrator)
    published: dict[str, float] = {}
    scores: dict[str, float] = {}
    for i, batch in enumerate(batches):
        if evidence is not None and i == len(batches) // 2:
            calibrator.evidence = evidence  # the examples are scored mid-run
            published.update(model.rethreshold())
        annotations = [Annotation(f"message {n}", None, score, "") for n, score in batch]
        scores.update({a.text: a.score for a in annotations})  # type: ignore[misc]
        published.update(model.add(annotations))
        assert published == full_recomputation(scores, calibrator.threshold)
        assert {t: model.reward(t) for t in scores} == published


def test_a_moved_cut_proposes_only_the_flipped_rows():
    calibrator = ThresholdCalibrator("fixed", fixed_threshold=0.0)
    model = Labels(calibrator)
    rng = random.Random(0)
    model.add([Annotation(f"m{i}", None, rng.uniform(-3, 3), "") for i in range(10_000)])
    calibrator.fixed_threshold = 0.1
    flipped = model.rethreshold()
    assert flipped and all(value == 0.0 for value in flipped.values())
    assert set(flipped) == {t for t, s in model._scores.items() if 0.0 < s <= 0.1}


def test_the_evidence_cut_of_scores_that_are_all_equal_pays_none_of_them():
    from reward_server.models.calibration import evidence_cut

    cut = evidence_cut([0.3, 0.3], [0.3, 0.3, 0.3])
    assert not 0.3 > cut  # neither kind is paid: a scorer that cannot tell them apart earns nothing
