"""Judging an NLE line part by part: the split, the combination, and the judge doing it."""

import asyncio

import pytest

from reward_server.judging.decompose import best_part, split_messages
from reward_server.judging.judge import JudgeConfig, LLMJudge, LLMUnavailable
from tests.fake_llm import judged_message


def test_split_at_nle_two_space_joins_only():
    assert split_messages("You kill the newt!  The grid bug bites!") == ["You kill the newt!", "The grid bug bites!"]
    assert split_messages("$ - 5 gold pieces.  You see here a bow.   It's a wall.") == [
        "$ - 5 gold pieces.", "You see here a bow.", "It's a wall."]
    # one space stays inside a message: a prompt with its choices, a sentence in a rumour
    assert split_messages("What do you want to eat? [fg or ?*]") == ["What do you want to eat? [fg or ?*]"]
    assert split_messages("Really attack the kitten? [yn] (n)") == ["Really attack the kitten? [yn] (n)"]
    assert split_messages("Mr. Asidonhopo says hello.") == ["Mr. Asidonhopo says hello."]
    assert split_messages("It's a wall.") == ["It's a wall."]
    assert split_messages("") == [""]


def test_quotations_are_not_split():
    engraving = 'You read: "You kill the newt!  $ - 500 gold pieces."'
    assert split_messages(engraving) == [engraving]
    assert split_messages(f"It's a wall.  {engraving}  The newt bites!") == ["It's a wall.", engraving, "The newt bites!"]
    cut = 'You read: "You kill the newt!  $ - 500 gold'  # a line cut inside the quotation
    assert split_messages(f"You kill the newt!  {cut}") == ["You kill the newt!", cut]


def test_a_quotation_cannot_pay_through_its_parts(fake_llm):
    judge = decomposing_judge(fake_llm)
    line = asyncio.run(judge.judge('You read: "You kill the newt!  $ - 500 gold pieces."', "default"))
    kill = asyncio.run(judge.judge("You kill the newt!", "default"))
    assert line.score is not None and line.score < 0 < kill.score
    assert not any("500 gold" in q for q in fake_llm.behaviour.questions)  # its words were never shown


def test_best_part_ignores_unanswered_parts():
    assert best_part([-2.0, 1.5, None]) == 1.5
    assert best_part([None, None]) is None
    assert best_part([0.0, 1.0]) == 1.0


def decomposing_judge(fake_llm, **overrides) -> LLMJudge:
    settings = {"llm": "openai/fake", "api_base": fake_llm.api_base, "api_key": "x", "llm_timeout": 5.0,
                "decompose": True, "llm_retries": 0, "backoff_base": 0.01}
    settings.update(overrides)
    return LLMJudge(JudgeConfig(**settings))


def test_a_line_is_as_helpful_as_its_best_part(fake_llm):
    judge = decomposing_judge(fake_llm)
    line = asyncio.run(judge.judge("That door is closed.  You kill the newt!", "default"))
    whole = asyncio.run(decomposing_judge(fake_llm, decompose=False).judge(
        "That door is closed.  You kill the newt!", "default"))
    kill = asyncio.run(judge.judge("You kill the newt!", "default"))
    door = asyncio.run(judge.judge("That door is closed.", "default"))
    assert line.score == kill.score and door.score < kill.score and whole.score == kill.score
    assert '"That door is closed."' in line.raw and '"You kill the newt!"' in line.raw


def test_parts_are_asked_once_across_lines(fake_llm):
    judge = decomposing_judge(fake_llm)

    async def judge_all() -> None:
        for line in ["It's a wall.  You kill the newt!", "You kill the newt!  It bites!", "It's a wall."]:
            await judge.judge(line, "default")

    asyncio.run(judge_all())
    asked = [judged_message(q) for q in fake_llm.behaviour.questions]
    assert sorted(asked) == ['"It bites!"', '"It\'s a wall."', '"You kill the newt!"']


def test_generate_mode_keeps_the_best_label(fake_llm):
    judge = decomposing_judge(fake_llm, label_mode="generate")
    line = asyncio.run(judge.judge("It's a wall.  $ - 5 gold pieces.", "default"))
    assert line.label == 1 and line.score is None


def test_unparsable_parts_do_not_hide_an_answered_one_and_all_unparsable_stays_unparsable(fake_llm):
    judge = decomposing_judge(fake_llm)
    asyncio.run(judge.judge("You kill the newt!", "default"))  # answered, and now cached
    fake_llm.behaviour.garbage = True
    line = asyncio.run(judge.judge("You kill the newt!  Hmm.", "default"))
    assert line.parsed and line.score is not None and line.score > 0
    nothing = asyncio.run(judge.judge("Hmm.  Well.", "default"))
    assert not nothing.parsed


def test_a_part_the_llm_cannot_answer_fails_the_whole_line(fake_llm):
    """No half-judged line is ever returned (it would be stored as final): the error surfaces."""
    judge = decomposing_judge(fake_llm)
    fake_llm.behaviour.fail_first = 100
    with pytest.raises(LLMUnavailable):
        asyncio.run(judge.judge("You kill the newt!  It's a wall.", "default"))
