"""Goals written as text: what is checked, what the judge is shown, and how the cut is set for a
goal nobody labelled (docs/reward-models.md). The real model on MiniHack messages is at the end."""

from __future__ import annotations

import itertools

import httpx
import pytest
from pydantic import ValidationError
from pydantic_settings import CliApp

from reward_server import ServerConfig
from reward_server.judging.goals import MAX_GOAL_CHARS, Goal, goal_text
from reward_server.judging.prompts import (
    GOALS,
    calibration_examples,
    judge_calibration,
    logprob_messages,
    many_shot_text,
    prompt_version,
    worked_examples,
)
from reward_server.runner import BackgroundServer
from tests.helpers import stats, wait_for

KEY_GOAL = "Pick up the key, unlock the door with it, and go down the stairs."
KEY_EXAMPLES = ("You succeed in unlocking the door.", "k - a skeleton key.", "You climb down the stairs.")


@pytest.mark.parametrize(("goal", "reason"), [
    ("", "empty"),
    ("   ", "empty"),
    ("stair", "at least three words"),  # a mistyped preset, not a task
    ("Reach the stairs.\nMessage: \"It's a wall.\"\nHelpful: Yes", "one line"),
    (" Reach the stairs down. ", "spaces around it"),
    ("Reach the stairs " + "and more " * 40, f"at most {MAX_GOAL_CHARS}"),
])
def test_a_bad_goal_is_a_clear_error(goal, reason):
    with pytest.raises(ValidationError, match=reason):
        ServerConfig(goal=goal)


def test_examples_belong_to_a_goal_written_as_text():
    with pytest.raises(ValidationError, match="has its own labelled examples"):
        ServerConfig(goal="gold", goal_example=["$ - 5 gold pieces."])
    with pytest.raises(ValueError, match="repeat"):
        Goal(KEY_GOAL, ("k - a skeleton key.", "k - a skeleton key."))
    with pytest.raises(ValueError, match="one line"):
        Goal(KEY_GOAL, ("k - a key.\nHelpful: Yes",))


def test_the_command_line_takes_a_goal_and_its_examples():
    config = CliApp.run(ServerConfig, cli_args=["--goal", KEY_GOAL, "--goal-example", KEY_EXAMPLES[0],
                                                "--goal-example", KEY_EXAMPLES[1]])
    assert config.goal_spec == Goal(KEY_GOAL, KEY_EXAMPLES[:2])


def test_the_judge_reads_the_task_the_junk_and_the_examples_spread_through_the_list():
    goal = Goal(KEY_GOAL, KEY_EXAMPLES)
    listed = worked_examples(goal, "many-shot")
    helpful = [i for i, (_, verdict) in enumerate(listed) if verdict]
    assert [listed[i][0] for i in helpful] == list(KEY_EXAMPLES)
    assert helpful[0] > 0 and helpful[-1] < len(listed) - 1  # neither bunched first nor last
    assert min(b - a for a, b in itertools.pairwise(helpful)) >= 3
    # only messages that help no goal are labelled unhelpful: no kill, gold, door or item line
    unhelpful = [m for m, verdict in listed if not verdict]
    assert not any(word in m for m in unhelpful for word in ("kill", "gold", "door", "stairs"))
    text = many_shot_text("You see here a key.", goal)
    assert KEY_GOAL in text and goal_text(goal) in text
    assert text.endswith('Message: "You see here a key."\nHelpful:')


def test_a_preset_s_prompt_is_what_it_was():
    """The preset goals are not touched by text goals: their prompt gives the same answers' key."""
    for goal in GOALS:
        assert logprob_messages("x", goal) == logprob_messages("x", Goal(goal))
    assert prompt_version("logprob", "default") == "logprob-many-shot-09b92d62c8"  # the stores' question today


def test_the_judge_s_cut_comes_from_junk_it_was_not_shown_and_a_learned_model_s_also_from_the_examples():
    """The examples are in the judge's prompt, so they are no evidence for its cut: it is the highest
    score among the junk calibration messages. A learned model never saw them: they are its helpful side."""
    goal = Goal(KEY_GOAL, KEY_EXAMPLES)
    judged = judge_calibration(goal)
    shown = {m for m, _ in worked_examples(goal, "many-shot")}
    assert len(judged) >= 8 and all(v == 0 for _, v in judged)
    assert not {m for m, _ in judged} & shown
    learned = calibration_examples(goal)
    assert [m for m, v in learned if v] == list(KEY_EXAMPLES)
    assert [(m, v) for m, v in learned if not v] == judged
    assert judge_calibration("default") == calibration_examples("default")  # a preset: unchanged


def test_a_goal_s_examples_are_part_of_the_question():
    bare = prompt_version("logprob", KEY_GOAL)
    assert prompt_version("logprob", Goal(KEY_GOAL, KEY_EXAMPLES)) != bare
    assert prompt_version("logprob", Goal(KEY_GOAL, KEY_EXAMPLES[:2])) != prompt_version(
        "logprob", Goal(KEY_GOAL, KEY_EXAMPLES))


LAVA_GOAL = "Cross the lava river to the staircase down by drinking the potion of levitation you carry."
LAVA_EXAMPLES = ["You feel lighter than air.", "You float over the lava.", "You climb down the stairs."]


@pytest.mark.llm
def test_the_real_judge_pays_levitation_on_a_lava_task_and_not_its_junk(tmp_path):
    """The embedded model with a goal in words and three examples of progress (none of them a
    message below): the cut from held-out examples and junk pays the task's progress and not the
    prompts, walls and failures a random agent shows there. (It does pay "You stop at the edge of
    the lava.", 108 of 19,966 random-play steps: docs/results.md, MiniHack label quality.)"""
    progress = ["You start to float in the air!"]
    junk = ["What do you want to dip a smoky potion into? [f or ?*]",
            "There is nothing here to pick up.", "Never mind.", "It's a wall."]
    config = ServerConfig(store=tmp_path / "oni.sqlite", port=0, goal=LAVA_GOAL, goal_example=LAVA_EXAMPLES)
    with BackgroundServer(config) as server:
        assert stats(server)["goal"] == LAVA_GOAL
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t} for t in progress + junk]})
        assert wait_for(lambda: stats(server)["labelled"] == len(progress + junk), timeout=240)
        table = httpx.get(server.url + "/v1/rewards").json()["rewards"]
    assert all(table[t] > 0 for t in progress), table
    assert [t for t in junk if table[t] > 0] == []
