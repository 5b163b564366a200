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
    generate_prompt,
    judge_calibration,
    many_shot_text,
    prompt_version,
    ranking_prompt_version,
    worked_examples,
)
from reward_server.models.calibration import cut_above_counterexamples, evidence_cut
from reward_server.runner import BackgroundServer
from tests.conftest import fake_config
from tests.fake_llm import FakeLLMServer
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


#: every preset's question keys as the stores hold them (prompt versions are part of each stored
#: answer's key: a change here orphans every store's answers, so it must be deliberate)
PRESET_VERSIONS = {
    "default": ('generate-51094d3de8', 'logprob-many-shot-09b92d62c8', 'logprob-paper-987c142357', 'logprob-families-f95bcebe6c', 'rank-logprob-912b2d9625', 'rank-generate-cbd045ce7e', 'rank-logprob-473c74a04c'),
    "combat": ('generate-bc9885ee46', 'logprob-many-shot-ccdc59b391', 'logprob-paper-115daca5e9', 'logprob-families-069eb43c16', 'rank-logprob-777cfa056e', 'rank-generate-af6aa1ac73', 'rank-logprob-5407fe7388'),
    "gold": ('generate-b1804e0465', 'logprob-many-shot-7bfdf730d3', 'logprob-paper-43b4e37006', 'logprob-families-e32f1255e5', 'rank-logprob-157703a49d', 'rank-generate-f43801ff7b', 'rank-logprob-1fbf9f8c8b'),
    "stairs": ('generate-e420212d24', 'logprob-many-shot-747751ce8a', 'logprob-paper-ab76abc9cf', 'logprob-families-005795bd6e', 'rank-logprob-415402319a', 'rank-generate-26c91a73c0', 'rank-logprob-8d8ec30bb1'),
    "zero-knowledge": ('generate-ac757b2746', 'logprob-many-shot-45dfae79b7', 'logprob-paper-65ae48d85f', 'logprob-families-1aab7a8814', 'rank-logprob-6bc8ccb181', 'rank-generate-577997f221', 'rank-logprob-710746bc81'),
}


@pytest.mark.parametrize("goal", GOALS)
def test_a_preset_s_questions_are_what_the_stores_hold(goal):
    """Goals written as text left the preset prompts alone: every mode and style keeps its key."""
    versions = (prompt_version("generate", goal), prompt_version("logprob", goal),
                prompt_version("logprob", goal, "paper"), prompt_version("logprob", goal, "families"),
                ranking_prompt_version("logprob", goal), ranking_prompt_version("generate", goal),
                ranking_prompt_version("logprob", goal, "paper"))
    assert versions == PRESET_VERSIONS[goal]


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


def test_bad_counterexamples_are_clear_errors():
    with pytest.raises(ValueError, match="both a goal example .* and a counterexample"):
        Goal(KEY_GOAL, KEY_EXAMPLES, (KEY_EXAMPLES[0],))
    with pytest.raises(ValueError, match="counterexamples repeat"):
        Goal(KEY_GOAL, (), ("It's solid stone.", "It's solid stone."))
    with pytest.raises(ValidationError, match="one line"):
        ServerConfig(goal=KEY_GOAL, goal_counterexample=["It's solid stone.\nHelpful: Yes"])
    with pytest.raises(ValidationError, match="at most 64"):
        ServerConfig(goal=KEY_GOAL, goal_counterexample=[f"You see here {i} rocks." for i in range(65)])


def test_counterexamples_set_the_cut_and_change_no_question():
    """Not shown to the judge, so every stored answer stays valid; they join the judge's and the
    learned models' calibration as unhelpful, for a goal in words and for a preset alike."""
    stone = "It's solid stone."
    goal = Goal(KEY_GOAL, KEY_EXAMPLES, (stone,))
    assert prompt_version("logprob", goal) == prompt_version("logprob", Goal(KEY_GOAL, KEY_EXAMPLES))
    assert ranking_prompt_version("logprob", goal) == ranking_prompt_version("logprob", Goal(KEY_GOAL, KEY_EXAMPLES))
    assert stone not in many_shot_text("You see here a key.", goal)
    assert judge_calibration(goal) == [*judge_calibration(Goal(KEY_GOAL, KEY_EXAMPLES)), (stone, 0)]
    assert (stone, 0) in calibration_examples(goal)
    preset = Goal("default", (), (stone,))
    assert judge_calibration(preset) == [*judge_calibration("default"), (stone, 0)]
    assert CliApp.run(ServerConfig, cli_args=["--goal", KEY_GOAL, "--goal-counterexample", stone]).goal_spec == Goal(
        KEY_GOAL, (), (stone,))


def test_the_paid_list_names_a_junk_message_and_a_counterexample_unpays_it(fake_llm: FakeLLMServer, tmp_path) -> None:
    """A user's loop: read /v1/paid (most reported first), name the junk at its top as a
    counterexample, restart on the same store. The fake judge says yes to gold (log-odds +2.3) and
    more strongly to kills (+5): with the gold message named, the cut rises to its score, so both
    gold messages go unpaid and the kill stays paid. The restart's judge scores gold a little
    lower than the stored answer (an LLM's noise): the cut counts the stored score, so the other
    gold message, answered beside it, stays below the cut."""
    fake_llm.behaviour.strong_words = ("kill",)
    goal = "Kill the monsters of the level and nothing else."
    gold, kill, other_gold, wall = "$ - 5 gold pieces.", "You kill the newt!", "You see here 3 gold pieces.", "It's a wall."
    sent = {gold: 50, kill: 5, other_gold: 3, wall: 100}
    store = tmp_path / "oni.sqlite"
    config = fake_config(fake_llm, store, goal=goal, calibration="examples")
    with BackgroundServer(config) as server:
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": t, "count": c} for t, c in sent.items()]})
        assert wait_for(lambda: stats(server)["labelled"] == len(sent))
        first = httpx.get(server.url + "/v1/paid", params={"limit": 2}).json()
    assert [(r["message"], r["count"]) for r in first["messages"]] == [(gold, 50), (kill, 5)]
    assert first["paid_messages"] == 3 and first["paid_share"] == pytest.approx(58 / 158)
    assert first["messages"][0]["score"] == pytest.approx(2.3, abs=0.01) and first["threshold"] < 0
    asked = fake_llm.behaviour.requests

    fake_llm.behaviour.helpful_margin = 2.29
    named = fake_config(fake_llm, store, goal=goal, calibration="examples", goal_counterexample=[gold])
    with BackgroundServer(named) as server:
        second = httpx.get(server.url + "/v1/paid").json()
        assert stats(server)["goal_counterexamples"] == [gold]
    assert [r["message"] for r in second["messages"]] == [kill]
    assert second["paid_messages"] == 1 and second["paid_share"] == pytest.approx(5 / 158)
    assert second["threshold"] == pytest.approx(2.3, abs=0.005)  # the stored score, not the rerun's 2.29
    # the table's messages were not asked again: only the calibration messages and the counterexample
    assert fake_llm.behaviour.requests - asked == len(judge_calibration(named.goal_spec))


@pytest.mark.parametrize("reward_model", ["novelty", "ranking"])
def test_a_counterexample_is_never_paid_by_a_model_that_sets_no_cut(fake_llm: FakeLLMServer, tmp_path, reward_model):
    """Novelty pays every message and ranking serves its own table, and neither reads the judge's
    cut; a store a retrieval server paid the message in is reused. The named message is 0 in the
    table from the start, and in /v1/score."""
    goal, gold, wall = "Kill the monsters of the level and nothing else.", "$ - 5 gold pieces.", "It's a wall."
    store = tmp_path / "oni.sqlite"
    with BackgroundServer(fake_config(fake_llm, store, goal=goal)) as server:
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": gold}, {"text": wall}]})
        assert wait_for(lambda: httpx.get(server.url + "/v1/rewards").json()["rewards"].get(gold) == 1.0)
    config = fake_config(fake_llm, store, goal=goal, reward_model=reward_model, calibration="examples",
                         goal_counterexample=[gold, wall])
    with BackgroundServer(config) as server:
        assert httpx.get(server.url + "/v1/rewards").json()["rewards"][gold] == 0.0
        httpx.post(server.url + "/v1/messages", json={"messages": [{"text": "You kill the newt!"}]})
        scored = httpx.post(server.url + "/v1/score", json={"messages": [gold, wall, "You see a newt."]}).json()
        rewards = {row["message"]: row["reward"] for row in scored["scores"]}
        assert rewards[gold] == rewards[wall] == 0.0
        if reward_model == "novelty":  # the control: novelty pays a message nobody named
            assert rewards["You see a newt."] > 0
            assert wait_for(lambda: httpx.get(server.url + "/v1/rewards").json()["rewards"].get("You kill the newt!") == 1.0)
        assert httpx.get(server.url + "/v1/rewards").json()["rewards"][wall] == 0.0


def test_a_counterexample_lifts_a_preset_s_cut_past_its_balance():
    """A preset's cut balances paid junk against missed progress; a counterexample is not weighed."""
    assert evidence_cut([1.0, 1.2, 1.4, 3.0], [-1.0, 2.5]) < 2.5  # the balance pays the 2.5 junk
    assert cut_above_counterexamples(evidence_cut([1.0, 1.2, 1.4, 3.0], [-1.0, 2.5]), [2.5]) == 2.5


@pytest.mark.parametrize(("settings", "reason"), [
    ({"goal": "gold", "goal_counterexample": ["$ - 8 gold pieces."]}, "labelled helpful under the goal 'gold'"),
    ({"goal": KEY_GOAL, "goal_counterexample": ["It's solid stone."], "calibration": "fixed"}, "--calibration examples"),
    ({"goal": KEY_GOAL, "goal_counterexample": ["It's solid stone."], "label_mode": "generate"}, "--label-mode logprob"),
    ({"goal": KEY_GOAL, "goal_counterexample": ["It's solid stone. " * 80 + "Yes."]}, "--max-message-chars"),
    ({"goal": KEY_GOAL, "goal_counterexample": [" It's solid stone."]}, "stored trimmed"),
])
def test_a_counterexample_that_cannot_work_is_a_clear_error(settings, reason):
    with pytest.raises(ValidationError, match=reason):
        ServerConfig(**settings)


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
    message below): the cut above every junk calibration message pays the task's progress and not
    the prompts, walls and failures a random agent shows there. (It does pay "You stop at the edge of
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


def test_the_chat_prompts_of_a_text_goal_show_junk_beside_the_examples():
    """The paper-style chat and the chain-of-thought prompt (the styles for big models) must not show
    only helpful examples: a judge shown only "yes" answers leans to yes."""
    goal = Goal(KEY_GOAL, KEY_EXAMPLES)
    paper = worked_examples(goal, "paper")
    assert [m for m, v in paper if v] == list(KEY_EXAMPLES) and sum(1 - v for _, v in paper) >= 3
    text = generate_prompt("You see here a key.", goal)
    assert text.count("should be labelled as FOO") == 3 and text.count("should be labelled as BAR") >= 3
    assert not worked_examples(KEY_GOAL, "paper") or all(v == 0 for _, v in worked_examples(KEY_GOAL, "paper"))
