"""Annotation prompts: the paper's goals and worked examples, rendered per label mode.

Two prompt families:

* ``generate`` — the reference's chain-of-thought prompt: knowledge, analysis, then a
  ``<label> FOO/BAR </label>`` verdict. Meant for capable models behind vLLM.
* ``logprob`` — a prompt whose answer is one word; the judge reads the label from the
  log-probabilities of the first answer token, one forward pass per message. Small models need
  this (they cannot follow the CoT format). Its styles:

  - ``many-shot`` (the default): one text of 58 labelled messages from the families an agent
    meets (kills, gold, level-ups, stairs, pets, menus, walls, doors, items, rumours, and the
    junk of agent play: eating, hunger, prayer, status, "You can't ..."), then the message with
    its label left open. A base model continues the list; this is how a 270M model labels well
    (docs/results.md).
  - ``paper``: the paper's goal and four worked examples as a chat exchange (best for
    SmolLM2-135M-Instruct, which cannot learn from a long list).
  - ``families``: twelve family examples as a chat exchange; ``compact``: the bare question.

Messages are inserted JSON-quoted, so a message can never close the quote, inject a
format tag or pose as an instruction. In logprob mode the text inside a message's own double
quotes (an engraving, a scroll, a fortune, a shopkeeper's words) is also hidden from the judge
(:func:`mask_quotations`): a small judge scores the words it sees, and an engraving that reads
"$ - 500 gold pieces." is not gold.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Literal

from reward_server.judging.goals import (  # noqa: F401 - re-exported: the goals belong with their prompts
    GOAL_PREFERENCES,
    GOALS,
    Goal,
    GoalLike,
    as_goal,
    check_goal,
    goal_text,
    is_preset,
)

LabelMode = Literal["generate", "logprob"]

SYSTEM_PROMPT = (
    "You are a helpful and honest judge of good gameplaying and progress in the NetHack game. "
    "Always answer as helpfully as possible, while being truthful. "
    "If you don't know the answer to a question, please don't share false information."
)

#: The paper's four worked examples: (message, explanation).
_EXAMPLES: list[tuple[str, str]] = [
    (
        "You kill the goblin!  Welcome to experience level 4",
        "the player has killed a goblin and gained experience, which led to a level up",
    ),
    (
        "You hear someone counting money.",
        "the player is close to a source of gold, such as a monster with treasure",
    ),
    ("5 gold pieces.", "the player collected 5 gold coins"),
    ("That door is closed.", "nothing happened; it is neutral"),
]

#: Which worked examples are helpful under each goal (1) and which are not (0).
_EXAMPLE_VERDICTS: dict[str, tuple[int, int, int, int]] = {
    "default": (1, 1, 1, 0),
    "combat": (1, 0, 0, 0),
    "gold": (0, 1, 1, 0),
    "stairs": (0, 0, 0, 0),
    "zero-knowledge": (1, 1, 1, 0),
}

@dataclass(frozen=True)
class LabelWords:
    """The two answer words of a prompt: the label is read by looking for these."""

    positive: str
    negative: str


PAPER_WORDS = LabelWords("FOO", "BAR")
YES_NO_WORDS = LabelWords("Yes", "No")


def quote_message(message: str) -> str:
    """JSON string literal of the message: quotes, backslashes and control bytes escaped."""
    return json.dumps(message, ensure_ascii=False)


#: A double-quoted stretch of game text, up to its closing quote or the end of a cut line.
_QUOTATION = re.compile(r'"[^"]*(?:"|$)')
#: What the logprob judge sees instead of a quotation's words.
QUOTATION_MASK = '"..."'


def mask_quotations(message: str) -> str:
    """``message`` with the words inside its double quotes replaced by ``"..."``.

    Quoted game text is something the hero reads or hears, never an event: ``The engraving now
    reads: "$ - 500 gold pieces."`` and ``You read: "You kill the newt!"`` pay nothing, whatever
    the words. A small logprob judge reads them as the event they name (the first scored
    +1.20, paid, before this), so it is shown the frame only: what kind of text it is, not
    what it says. A message that is only a quotation (``"Then die, mortal!"``) becomes ``"..."``.
    """
    return _QUOTATION.sub(QUOTATION_MASK, message) if '"' in message else message


def _paper_examples(goal: GoalLike) -> list[tuple[str, str, int]]:
    """The paper's worked examples with their verdicts under a preset goal: (message, why, helpful?).

    For a goal written as text, whether a kill or gold helps is not known: the family examples
    that help no goal (unhelpful) with the user's examples of progress (helpful) spread among them.
    """
    goal = as_goal(goal)
    if is_preset(goal.text):
        return [(m, why, v) for (m, why), v in zip(_EXAMPLES, _EXAMPLE_VERDICTS[goal.text], strict=True)]
    why = {1: "the agent made progress toward the goal", 0: "nothing that helps any goal happened"}
    listed = _with_examples(_labelled(_FAMILY_EXAMPLES, goal), goal.examples)
    return [(m, why[v], v) for m, v in listed]


def generate_prompt(message: str, goal: GoalLike = "default") -> str:
    """The reference's chain-of-thought labelling prompt (answer parsed from ``<label>``)."""
    words = PAPER_WORDS
    examples = []
    for i, (example, why, verdict) in enumerate(_paper_examples(goal), start=1):
        label = words.positive if verdict else words.negative
        judgement = "extremely helpful" if verdict else "not helpful for this goal"
        examples.append(
            f"Example {i}: {quote_message(example)} indicates that {why}. "
            f"This is {judgement} and should be labelled as {label}."
        )
    return (
        "Context: I am playing NetHack and I will present you a message from the gameplay.\n\n"
        "Instruction: First, tell me about your knowledge of NetHack. Mention the goal of NetHack. "
        "Then, write an analysis describing the semantics of the message using your knowledge of "
        "NetHack. Finally, respond by assigning a label to the message, which measures whether the "
        "status represented by the message is helpful or unhelpful to make some progress towards "
        "the goal. Helpful here does not mean whether it is informative to the player to make "
        "decisions or not, but whether it is helpful for the agent to solve the game.\n"
        f"{goal_text(goal)}\n"
        f"For extremely helpful messages, assign a label {words.positive}. For unhelpful, "
        f"neutral, and lukewarm messages, assign a label {words.negative}.\n\n"
        + "".join(f"{example}\n\n" for example in examples)
        + f"Please rate this message: {quote_message(message)}\n\n"
        "Constraint: Please format your response strictly in this format without additional "
        "explanation:\n"
        "<knowledge> [your knowledge of NetHack] </knowledge>\n"
        "<analysis> [your one-sentence analysis of the message] </analysis>\n"
        f"<label> [{words.positive}/{words.negative}] </label>\n"
    )


#: More worked examples, one or two per message family an agent meets early (kills, gold,
#: level-ups, stairs, walls, doors, pets, menus, items), tagged with what they show. ``junk``
#: marks what helps no goal at all (prompts, walls, "You can't ...", seeing an item, hunger,
#: misses, damage): the only examples whose label a goal written as text can be given
#: unasked; ``none`` marks what the paper's goals do not want but a task might (doors, pets,
#: items taken, kills by others).
_FAMILY_EXAMPLES: list[tuple[str, str]] = [
    ("You kill the jackal!", "combat"),
    ("It's a wall.", "junk"),
    ("$ - 12 gold pieces.", "gold"),
    ("You see here a dagger.", "junk"),
    ("Welcome to experience level 3.", "combat"),
    ("That door is closed.", "none"),
    ("You swap places with your kitten.", "none"),
    ("You destroy the lichen!", "combat"),
    ("What do you want to eat? [fg or ?*]", "junk"),
    ("There is a staircase down here.", "stairs"),
    ("It's solid stone.", "junk"),
    ("The newt bites!", "none"),
]
_FAMILIES_HELPFUL: dict[str, set[str]] = {
    "default": {"combat", "gold", "stairs"},
    "combat": {"combat"},
    "gold": {"gold"},
    "stairs": {"stairs"},
    "zero-knowledge": {"combat", "gold", "stairs"},
}

#: The many-shot list: 58 messages an agent meets, 16 helpful under the default goal, tagged like
#: the family examples. Besides kills, gold, level-ups and stairs it covers the junk a training
#: agent produces with the extended action set and must not be paid for (measured on agent play): prompts and
#: menus, eating, hunger and fainting, prayer, status recovery, "You can't ...", "You don't have
#: anything to ...", doors, boulders, pets' kills and pets' gold. None is a message of the
#: labelled files in benchmarks/data. The order is one fixed mix: a base model leans on the
#: examples nearest the open slot, so helpful and unhelpful ones alternate throughout.
_MANY_SHOT_EXAMPLES: list[tuple[str, str]] = [
    ("The little dog picks up 4 gold pieces.", "none"),
    ("You see here a dagger.", "junk"),
    ("You kill the coyote!", "combat"),
    ("You faint from lack of food.", "junk"),
    ("The jackal bites!  The jackal misses!", "none"),
    ("You miss the gnome lord.", "junk"),
    ("Really attack the little dog? [yn] (n)", "junk"),
    ("Welcome to experience level 3.", "combat"),
    ("You can see again.", "none"),
    ("You kill the sewer rat!", "combat"),
    ("You don't have anything to eat.", "junk"),
    ("You destroy the lichen!", "combat"),
    ("You swap places with your pony.", "none"),
    ("This gnome corpse tastes terrible!", "none"),
    ("You kill the gecko!  The gecko bites!", "combat"),
    ("Are you sure you want to pray? [yn] (n)", "junk"),
    ("The kitten drops a gold piece.  It's solid stone.", "none"),
    ("They say that gnomes are friendly.", "junk"),
    ("$ - 41 gold pieces.", "gold"),
    ("You have already gone as far west as possible.", "junk"),
    ("f - a food ration.", "none"),
    ("You only feel hungry now.", "none"),
    ("The sewer rat is killed!", "none"),
    ("You see here a hill orc corpse.", "none"),
    ("$ - 12 gold pieces.", "gold"),
    ("This door is locked.", "none"),
    ("You climb down the stairs.", "stairs"),
    ("You begin praying to Anhur.", "none"),
    ("You hit the gnome.", "none"),
    ("In what direction?", "junk"),
    ("You kill the giant rat!", "combat"),
    ("You feel a bit steadier now.", "none"),
    ("What do you want to eat? [f or ?*]", "junk"),
    ("You hear a monster behind the boulder.", "none"),
    ("$ - 30 gold pieces.  You see here a bow.", "gold"),
    ("This door is closed.", "none"),
    ("You finish eating the cram ration.", "none"),
    ("You feel more confident in your weapon skills.", "none"),
    ("The little dog kills the newt.", "none"),
    ("You don't have anything to zap.", "junk"),
    ("The kitten bites the gecko.  The gecko is killed!", "none"),
    ("You hear the footsteps of a guard on patrol.", "junk"),
    ("Welcome to experience level 5.", "combat"),
    ("The newt bites!", "none"),
    ("You feel a hopeful feeling.", "none"),
    ("You kill the hill orc!  The kitten misses the gnome.", "combat"),
    ("You see no objects here.", "junk"),
    ("The gnome mummy is destroyed!", "none"),
    ("There is a staircase down here.", "stairs"),
    ("It's a wall.", "junk"),
    ("You can't reach the bottom of the pit.", "junk"),
    ("You hear someone counting money.", "gold"),
    ("The door closes.", "none"),
    ("You destroy the gnome zombie!", "combat"),
    ("You hear a door open.  $ - 3 gold pieces.", "gold"),
    ("What do you want to read? [h or ?*]", "junk"),
    ("You can't go down here.", "junk"),
    ("The gnome lord is killed!", "none"),
]

#: Labelled messages the judge never sees in its prompt, tagged like the examples: the evidence
#: the log-odds cut is set from (``--calibration examples``, see calibration.py). Hard cases on
#: purpose: pets' kills and pets' gold, hits and misses, stairs up, hunger, prayer, menus. None
#: is in the many-shot list or in the labelled files of benchmarks/data.
_CALIBRATION_MESSAGES: list[tuple[str, str]] = [
    ("You kill the gnome lord!", "combat"),
    ("You kill the dingo!", "combat"),
    ("You kill the homunculus!", "combat"),
    ("You destroy the kobold mummy!", "combat"),
    ("You kill the hobbit!  The kitten picks up an elven mithril-coat.", "combat"),
    ("Welcome to experience level 4.", "combat"),
    ("$ - 8 gold pieces.", "gold"),
    ("$ - 115 gold pieces.", "gold"),
    ("$ - 22 gold pieces.  You see here a scroll labeled ELBIB YLOH.", "gold"),
    ("There is a staircase down here.  You see here 2 arrows.", "stairs"),
    ("There is a staircase down here.  The kitten picks up a dart.", "stairs"),
    ("You climb down the stairs.  You see here a dagger.", "stairs"),
    ("The gnome is killed!", "none"),
    ("The little dog kills the jackal.", "none"),
    ("You hit the hill orc.", "none"),
    ("You miss the giant rat.", "junk"),
    ("The kitten picks up 6 gold pieces.", "none"),
    ("There is a ladder up here.", "none"),
    ("Your stomach feels content.", "none"),
    ("You feel much better.", "none"),
    ("What do you want to wield? [- a or ?*]", "junk"),
    ("You don't have anything to read.", "junk"),
    ("You can't reach the floor.", "junk"),
    ("This door is broken.", "none"),
    ("You finish eating the apple.", "none"),
    ("You feel that Anhur is well-pleased.", "none"),
    ("Things that are here:", "junk"),
    ("You have a little trouble lifting 3 rocks.", "none"),
    ("The coyote bites!", "junk"),
    ("You are hit by a dart.", "junk"),
    ("You see here a sack.", "junk"),
    ("The kitten eats a gnome corpse.", "none"),
    ("You feel hungry.", "junk"),
    ("It's a wall.  The kitten drops a dagger.", "junk"),
]

PromptStyle = Literal["many-shot", "paper", "families", "compact"]
PROMPT_STYLES: tuple[str, ...] = ("many-shot", "paper", "families", "compact")
LABEL_WORDS: dict[str, LabelWords] = {
    "yes-no": YES_NO_WORDS,
    "foo-bar": PAPER_WORDS,
    "one-zero": LabelWords("1", "0"),
}


def _labelled(tagged: list[tuple[str, str]], goal: Goal) -> list[tuple[str, int]]:
    """Tagged examples as (message, helpful?) under a preset goal. A goal written as text gets
    only the ``junk`` ones, labelled unhelpful: nothing else can be labelled for a task nobody
    labelled."""
    if is_preset(goal.text):
        helpful = _FAMILIES_HELPFUL[goal.text]
        return [(m, int(family in helpful)) for m, family in tagged]
    return [(m, 0) for m, family in tagged if family == "junk"]


def _with_examples(listed: list[tuple[str, int]], examples: tuple[str, ...]) -> list[tuple[str, int]]:
    """The user's examples of progress (helpful) spread evenly through ``listed``: a base model
    leans on the examples nearest the open slot, so they must not bunch at either end."""
    total = len(listed) + len(examples)
    slots = {min(total - 1, int((i + 0.5) * total / len(examples))) for i in range(len(examples))}
    pending, rest = iter(examples), iter(listed)
    return [(next(pending), 1) if i in slots else next(rest) for i in range(total)]


def worked_examples(goal: GoalLike, style: PromptStyle) -> list[tuple[str, int]]:
    """The few-shot (message, helpful?) pairs of a prompt style, in prompt order."""
    goal = as_goal(goal)
    if style == "paper":
        return [(m, v) for m, _, v in _paper_examples(goal)]
    if style in ("families", "many-shot"):
        listed = _labelled(_FAMILY_EXAMPLES if style == "families" else _MANY_SHOT_EXAMPLES, goal)
        return _with_examples(listed, goal.examples)
    return []


def calibration_examples(goal: GoalLike) -> list[tuple[str, int]]:
    """(message, helpful?) pairs under ``goal`` that set a learned model's cut.

    A preset's are labelled messages no prompt shows. A goal written as text gets the ``junk``
    ones (unhelpful under any goal) and the user's examples of progress (helpful): a learned
    model has not seen them, so they are evidence for its cut. The user's counterexamples, if
    any, are unhelpful ones. The judge's own cut uses :func:`judge_calibration` instead.
    """
    goal = as_goal(goal)
    return (_labelled(_CALIBRATION_MESSAGES, goal) + [(m, 1) for m in goal.examples]
            + [(m, 0) for m in goal.counterexamples])


def labelled_helpful(goal: GoalLike) -> set[str]:
    """Every message a prompt or calibration list labels helpful under ``goal``: none of them can
    also be the user's counterexample."""
    goal = as_goal(goal)
    shown = {m for style in PROMPT_STYLES for m, v in worked_examples(goal, style) if v}  # type: ignore[arg-type]
    return shown | {m for m, v in calibration_examples(goal) if v}


def judge_calibration(goal: GoalLike) -> list[tuple[str, int]]:
    """(message, helpful?) pairs for the judge's log-odds cut: only messages its prompt does not show.

    A preset's calibration messages. For a goal written as text, the ``junk`` ones alone: the
    user's examples are in the prompt (the judge would echo their label), and one held out of
    its own prompt would be asked a different question than the messages are. So the cut is the
    highest junk score (:func:`~reward_server.models.calibration.evidence_cut`): a message is
    paid when the judge, shown the goal and its examples, rates it above every message known to
    help no goal. The user's counterexamples (no prompt shows them either) are unhelpful ones
    for any goal, and the service raises the cut to at least each of their scores.
    """
    goal = as_goal(goal)
    return _labelled(_CALIBRATION_MESSAGES, goal) + [(m, 0) for m in goal.counterexamples]


def many_shot_text(
    message: str, goal: GoalLike, words: LabelWords = YES_NO_WORDS, examples: list[tuple[str, int]] | None = None
) -> str:
    """The many-shot prompt: the goal, the labelled list, then ``message`` with its label open.

    Written to be *continued*, not answered: the next token after ``Helpful:`` is the label.
    ``examples`` replaces the list (prompt experiments); by default it is the goal's own.
    """
    lines = [f"NetHack messages labelled by whether they are helpful for this goal: {goal_text(goal)}"]
    for example, verdict in worked_examples(goal, "many-shot") if examples is None else examples:
        label = words.positive if verdict else words.negative
        lines.append(f"Message: {quote_message(example)}\nHelpful: {label}")
    lines.append(f"Message: {quote_message(message)}\nHelpful:")
    return "\n\n".join(lines)


def logprob_messages(
    message: str,
    goal: GoalLike = "default",
    words: LabelWords = YES_NO_WORDS,
    style: PromptStyle = "many-shot",
) -> list[dict[str, str]]:
    """Chat messages for one-token labelling.

    ``style``: ``many-shot`` — one user message holding :func:`many_shot_text` (the default:
    best on the dev set, with a base model); ``paper`` — the paper's four worked examples as
    few-shot turns; ``families`` — twelve examples across message families as turns;
    ``compact`` — the bare question, no examples. The message under judgement is last, so every
    prompt of a goal shares one long prefix and a local model's prefix cache makes each new
    message cost only its own tokens.
    """
    goal = as_goal(goal)
    if style not in PROMPT_STYLES:
        raise ValueError(f"unknown prompt style {style!r}; choose one of {', '.join(PROMPT_STYLES)}")
    message = mask_quotations(message)
    if style == "many-shot":
        return [{"role": "user", "content": many_shot_text(message, goal, words)}]
    question = (
        f"{goal_text(goal)} Is this NetHack message helpful for that goal? "
        f"Answer {words.positive} or {words.negative}.\nMessage: "
    )
    chat = [{"role": "system", "content": SYSTEM_PROMPT}]
    for example, verdict in worked_examples(goal, style):
        chat.append({"role": "user", "content": question + quote_message(example)})
        chat.append({"role": "assistant", "content": words.positive if verdict else words.negative})
    chat.append({"role": "user", "content": question + quote_message(message)})
    return chat


def render_plain(messages: list[dict[str, str]]) -> str:
    """A chat as plain text for a base model: the contents joined by blank lines.

    Prompts meant for base models are one user message (instructions, labelled examples, then
    the open slot to complete), which this passes through verbatim.
    """
    return "\n\n".join(m["content"] for m in messages)


def prompt_version(
    label_mode: LabelMode,
    goal: GoalLike,
    style: PromptStyle = "many-shot",
    words: LabelWords = YES_NO_WORDS,
    decompose: bool = False,
    plain_text: bool = False,
) -> str:
    """A version string that changes whenever the question put to the LLM would change.

    Stored with every annotation: editing a template, judging lines part by part instead of
    whole, or sending the prompt as plain text instead of a chat (``plain_text``: a server's
    ``/v1/completions``) makes the server ask again rather than silently mixing answers to
    different questions.
    """
    probe = "\x00probe\x00"
    if label_mode == "generate":
        rendered = SYSTEM_PROMPT + generate_prompt(probe, goal)
        name = label_mode
    else:
        # a probe with a quotation: hiding quoted words changed the question for such messages
        rendered = json.dumps(logprob_messages(probe + ' "quoted"', goal, words, style))
        name = f"{label_mode}-{style}"
    digest = hashlib.sha256(rendered.encode()).hexdigest()[:10]
    return f"{name}{'-parts' if decompose else ''}{'-text' if plain_text else ''}-{digest}"


# ------------------------------------------------------------------------------ ranking
#: The answer words of a pairwise comparison: which message shows more progress.
RANKING_WORDS = LabelWords("1", "2")


def ranking_prompt(first: str, second: str, goal: GoalLike = "default") -> str:
    """The reference's pairwise (Motif) prompt: analysis, then ``<preference>`` 1, 2 or None."""
    return (
        "Context: I am playing NetHack and I will present you two messages from the gameplay.\n\n"
        "Instruction: First, tell me about your knowledge of NetHack. Mention the goal of NetHack. "
        "Then, write an analysis describing the semantics of each message using your knowledge of "
        "NetHack. Finally, respond by stating which message shows more progress towards the goal.\n"
        f"{goal_text(goal)}\n\n"
        f"Message 1: {quote_message(first)}\n"
        f"Message 2: {quote_message(second)}\n\n"
        "Constraint: Please format your response strictly in this format without additional "
        "explanation:\n"
        "<knowledge> [your knowledge of NetHack] </knowledge>\n"
        "<analysis> [your one-sentence analysis of each message] </analysis>\n"
        "<preference> [1, 2 or None] </preference>\n"
        "Answer None when neither message shows more progress than the other."
    )


def ranking_messages(
    first: str, second: str, goal: GoalLike = "default", style: PromptStyle = "many-shot"
) -> list[dict[str, str]]:
    """Chat for one-token pairwise comparison (logprob mode): answer ``1`` or ``2``.

    ``many-shot`` (for base models): a text of example pairs from the many-shot list, each a
    helpful message against an unhelpful one with the helpful one's number after
    ``More progress:``, then the open pair. Any other style: one worked chat example (a kill
    beats a wall) shows the format. The pair under judgement is last.
    """
    goal = as_goal(goal)
    if style == "many-shot":
        return [{"role": "user", "content": _many_shot_pairs_text(first, second, goal)}]

    def question(a: str, b: str) -> str:
        return (
            f"{goal_text(goal)} Which NetHack message shows more progress toward that goal? "
            f"Answer 1 or 2.\nMessage 1: {quote_message(a)}\nMessage 2: {quote_message(b)}"
        )

    chat = [{"role": "system", "content": SYSTEM_PROMPT}]
    if is_preset(goal.text):  # a worked pair shows the format; a goal written as text has no known answer
        example_first, example_second = "It's a wall.", "You kill the jackal!"
        helpful_second = _EXAMPLE_VERDICTS[goal.text][0]  # the kill example's verdict under this goal
        chat += [{"role": "user", "content": question(example_first, example_second)},
                 {"role": "assistant", "content": "2" if helpful_second else "1"}]
    return [*chat, {"role": "user", "content": question(first, second)}]


def _many_shot_pairs_text(first: str, second: str, goal: Goal) -> str:
    examples = worked_examples(goal, "many-shot")
    helpful = [m for m, verdict in examples if verdict]
    unhelpful = [m for m, verdict in examples if not verdict]
    heading = f"Pairs of NetHack messages, and which one shows more progress toward this goal: {goal_text(goal)}"
    lines = [heading]
    for i, (good, bad) in enumerate(zip(helpful, unhelpful)):
        pair, answer = ((good, bad), "1") if i % 2 == 0 else ((bad, good), "2")
        lines.append(f"Message 1: {quote_message(pair[0])}\nMessage 2: {quote_message(pair[1])}\n"
                     f"More progress: {answer}")
    lines.append(f"Message 1: {quote_message(first)}\nMessage 2: {quote_message(second)}\nMore progress:")
    return "\n\n".join(lines)


def ranking_prompt_version(label_mode: LabelMode, goal: GoalLike, style: PromptStyle = "many-shot") -> str:
    """Like :func:`prompt_version`, for the pairwise prompts."""
    first, second = "\x00probe-a\x00", "\x00probe-b\x00"
    if label_mode == "generate":
        rendered = SYSTEM_PROMPT + ranking_prompt(first, second, goal)
    else:
        rendered = json.dumps(ranking_messages(first, second, goal, style))
    digest = hashlib.sha256(rendered.encode()).hexdigest()[:10]
    return f"rank-{label_mode}-{digest}"
