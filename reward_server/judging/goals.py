"""What counts as progress: one of the paper's goals by name, or a task written as text.

The paper's five goals (``default``, ``combat``, ``gold``, ``stairs``, ``zero-knowledge``) come
with labelled worked examples and calibration messages (``prompts``). A goal written as text
("Pick up the key, unlock the door with it and go down the stairs.") is what a user has for a
task nobody labelled, such as a MiniHack level. What the judge can be told about it without
labels: the sentence itself, the examples that help *no* goal (prompts, walls, "You can't ...")
labelled unhelpful, and, if the user gives them, a few example messages of progress, labelled
helpful. How the cut is set for such a goal: ``prompts.judge_calibration`` and docs/reward-models.md.
Any goal may also carry counterexamples: messages of the user's task that are not progress
(typically ones a first run paid). No prompt shows them; they join the calibration messages, the
cut rises to at least their scores, and they are never paid.
"""

from __future__ import annotations

from dataclasses import dataclass

#: What the agent should prefer, per goal (the paper's goal strings, reworded for labelling).
GOAL_PREFERENCES: dict[str, str] = {
    "default": "I prefer agents that maximize the score in the game, for instance by killing "
    "monsters, collecting gold or going down the stairs in the dungeon.",
    "combat": "I prefer agents that engage in combat, for instance by killing monsters. But never "
    "prefer agents that collect ANY gold or that go down the dungeon.",
    "gold": "I prefer agents that maximize their gold. But never prefer agents that maximize the "
    "score in other ways (e.g., by engaging in combat or killing monsters) or that go down the "
    "dungeon.",
    "stairs": "I prefer agents that go down the dungeon as much as possible. But never prefer "
    "agents that maximize the score (e.g., by engaging in combat) or that collect ANY gold.",
    "zero-knowledge": "I prefer agents that make progress in the game.",
}

GOALS: tuple[str, ...] = tuple(GOAL_PREFERENCES)
#: A goal written as text, and each example message of progress, is at most this long, on one line.
MAX_GOAL_CHARS = 300
#: At most this many example messages of progress (each one is a line of every prompt).
MAX_GOAL_EXAMPLES = 16
#: At most this many counterexamples (judged with the calibration messages at start; scores kept in the store).
MAX_GOAL_COUNTEREXAMPLES = 64


def is_preset(goal: str) -> bool:
    """Whether ``goal`` names one of the paper's goals (else it is a task written as text)."""
    return goal in GOAL_PREFERENCES


def _check_line(text: str, what: str, max_chars: int | None = MAX_GOAL_CHARS,
                why_trimmed: str = "it is part of every stored answer's key") -> None:
    if not text.strip():
        raise ValueError(f"{what} is empty")
    if max_chars is not None and len(text) > max_chars:
        raise ValueError(f"{what} is {len(text)} characters; at most {max_chars}")
    if not text.isprintable():
        raise ValueError(f"{what} must be one line of printable text (no line breaks or control characters)")
    if text != text.strip():
        raise ValueError(f"{what} has spaces around it; give it trimmed ({why_trimmed})")


def check_goal(goal: str) -> str:
    """``goal`` if it is a preset name or usable text; a ``ValueError`` saying why not.

    Text is one line of printable characters, at most :data:`MAX_GOAL_CHARS`, of at least three
    words (a one-word goal is far more likely a mistyped preset than a task). It is part of every
    stored answer's key, so it is taken exactly as written, without trimming.
    """
    if is_preset(goal):
        return goal
    if not goal.strip():
        raise ValueError(f"the goal is empty; give a preset ({', '.join(GOALS)}) or the task in a sentence")
    _check_line(goal, "the goal")
    if len(goal.split()) < 3:
        raise ValueError(f"unknown goal {goal!r}; choose a preset ({', '.join(GOALS)}) or describe the task "
                         "in a sentence (at least three words)")
    return goal


@dataclass(frozen=True)
class Goal:
    """A goal and, for one written as text, the user's example messages of progress.

    ``text`` is a preset's name or the task in words; ``examples`` are messages the user expects
    when the agent progresses ("You succeed in unlocking the door."). The judge sees them labelled
    helpful; a preset has labelled examples of its own and takes none. ``counterexamples`` are
    messages of the user's task that are *not* progress ("It's solid stone." on a level where
    walking into rock is all a random agent does). The judge is never shown them: they are
    evidence for its cut, which rises to at least their scores (labels are ``score > cut``), so a
    message the judge rates no higher than one of them goes unpaid, and they are never paid. Any goal takes them; they
    change no prompt, so no stored answer.
    """

    text: str
    examples: tuple[str, ...] = ()
    counterexamples: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_goal(self.text)
        if self.examples and is_preset(self.text):
            raise ValueError(f"the preset goal {self.text!r} has its own labelled examples; goal examples are "
                             "for a goal written as text")
        if len(self.examples) > MAX_GOAL_EXAMPLES:
            raise ValueError(f"{len(self.examples)} goal examples; at most {MAX_GOAL_EXAMPLES}")
        for example in self.examples:
            _check_line(example, f"the goal example {example[:40]!r}")
        if len(set(self.examples)) != len(self.examples):
            raise ValueError("the goal examples repeat a message")
        if len(self.counterexamples) > MAX_GOAL_COUNTEREXAMPLES:
            raise ValueError(f"{len(self.counterexamples)} goal counterexamples; at most {MAX_GOAL_COUNTEREXAMPLES}")
        for counterexample in self.counterexamples:  # as long as a message may be: the server checks its limit
            _check_line(counterexample, f"the goal counterexample {counterexample[:40]!r}", max_chars=None,
                        why_trimmed="messages are stored trimmed, so it would match none")
        if len(set(self.counterexamples)) != len(self.counterexamples):
            raise ValueError("the goal counterexamples repeat a message")
        both = sorted(set(self.examples) & set(self.counterexamples))
        if both:
            raise ValueError(f"{both[0]!r} is both a goal example (progress) and a counterexample (not progress)")


GoalLike = str | Goal


def as_goal(goal: GoalLike) -> Goal:
    """A :class:`Goal` from a name or text (no examples), or the goal itself."""
    return goal if isinstance(goal, Goal) else Goal(goal)


def goal_text(goal: GoalLike) -> str:
    """The sentence the judge reads: a preset's preference, or the task as written."""
    text = as_goal(goal).text
    if is_preset(text):
        return GOAL_PREFERENCES[text]
    return f"I prefer agents that make progress on this task: {text}"
