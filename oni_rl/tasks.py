"""The tasks an agent trains on: the paper's NetHack tasks and MiniHack's.

The paper's four: Score, Oracle, StaircaseLvl3 and StaircaseLvl4.

NLE ships Score and Oracle; the two deeper staircase tasks are not in NLE. ``StaircaseLvlN``
pays 1 the first time the hero reaches dungeon level N (``blstats`` depth) and ends the
episode there, on top of NLE's usual frozen-step penalty. All four use the *extended* action
set: NLE's 23 task actions (moves, more, up/down, wait, kick, eat, search) plus the commands an
agent needs to survive deeper than level 1 (pray, quaff, pick up, cast, read, apply, wear,
wield, zap, throw, fire, put on, open, close, escape and the yes/no answers).

``make_task("NetHackStaircaseLvl3-v0")`` or ``gymnasium.make`` after ``import oni_rl.tasks``.

MiniHack's tasks (``MiniHack-KeyRoom-S5-v0``, ...; the extra ``oni[minihack]``) keep their own
action sets and episode limits: they are small, sparse problems whose messages tell progress
("g - a key named The Master Key of Thievery.", "You start to float in the air!"), where PPO
learns within millions of frames instead of billions. MiniHack builds on the same NLE, so the
policy sees the same ``glyphs``, ``blstats`` and ``message``.
"""

from __future__ import annotations

import dataclasses
import importlib
import warnings
from functools import cache

import gymnasium as gym
from nle import nethack
from nle.env import tasks as nle_tasks

EXTENDED_ACTIONS: tuple[int, ...] = tuple(nle_tasks.TASK_ACTIONS) + (
    nethack.Command.PRAY,
    nethack.Command.QUAFF,
    nethack.Command.PICKUP,
    nethack.Command.CAST,
    nethack.Command.READ,
    nethack.Command.APPLY,
    nethack.Command.WEAR,
    nethack.Command.WIELD,
    nethack.Command.ZAP,
    nethack.Command.THROW,
    nethack.Command.FIRE,
    nethack.Command.PUTON,
    nethack.Command.OPEN,
    nethack.Command.CLOSE,
    nethack.Command.ESC,
    ord("y"),
    ord("n"),
)

#: what the policy sees: the map, the bottom-line stats and the message (the ONI wrapper's input)
OBSERVATION_KEYS: tuple[str, ...] = ("glyphs", "blstats", "message")


class NetHackStaircaseLvl(nle_tasks.NetHackStaircase):
    """Reach dungeon level ``target_depth`` (by any staircase, trapdoor or hole): reward 1, episode ends."""

    target_depth = 3

    def _is_episode_end(self, observation):  # type: ignore[no-untyped-def] - NLE's signature
        depth = observation[self._blstats_index][nethack.NLE_BL_DEPTH]
        if depth >= self.target_depth:
            return self.StepStatus.TASK_SUCCESSFUL
        return self.StepStatus.RUNNING


class NetHackStaircaseLvl3(NetHackStaircaseLvl):
    target_depth = 3


class NetHackStaircaseLvl4(NetHackStaircaseLvl):
    target_depth = 4


TASKS: dict[str, str] = {
    "NetHackScore-v0": "nle.env.tasks:NetHackScore",
    "NetHackOracle-v0": "nle.env.tasks:NetHackOracle",
    "NetHackStaircaseLvl3-v0": "oni_rl.tasks:NetHackStaircaseLvl3",
    "NetHackStaircaseLvl4-v0": "oni_rl.tasks:NetHackStaircaseLvl4",
}

for _task_id in ("NetHackStaircaseLvl3-v0", "NetHackStaircaseLvl4-v0"):
    if _task_id not in gym.registry:
        gym.register(id=_task_id, entry_point=TASKS[_task_id], order_enforce=False)


MINIHACK_PREFIX = "MiniHack-"
MINIHACK_INSTALL = "pip install 'oni[minihack]'"


#: Goals, in words, for the MiniHack tasks oni measured (benchmarks/data/minihack): what a run on
#: one of them passes to the reward server unless ``--server.goal`` says otherwise.
MINIHACK_GOALS: dict[str, str] = {
    "MiniHack-KeyRoom-S15-v0":
        "Pick up the key, unlock the locked door with it, and go down the staircase behind the door.",
    "MiniHack-River-v0":
        "Cross the river to the staircase down by pushing boulders into the water to make a path.",
    "MiniHack-LavaCross-Levitate-Potion-Inv-Full-v0":
        "Cross the lava river to the staircase down by drinking the potion of levitation you carry.",
    "MiniHack-WoD-Medium-Full-v0":
        "Pick up the wand of death, kill the minotaur with it, and go down the staircase behind it.",
    "MiniHack-Freeze-Lava-Full-v0":
        "Pick up the wand of cold or the frost horn, freeze the lava with it, and cross to the staircase down.",
}

#: Messages of progress toward each goal, as a user would write them from knowing NetHack (the
#: judge needs a few: docs/reward-models.md). Written for the goal, not taken from play: none is a
#: message of the labelled files in benchmarks/data/minihack.
MINIHACK_GOAL_EXAMPLES: dict[str, tuple[str, ...]] = {
    "MiniHack-KeyRoom-S15-v0": ("You succeed in unlocking the door.", "k - a skeleton key.", "You climb down the stairs."),
    "MiniHack-River-v0": ("There is a large splash as the boulder fills the pool.", "You push the boulder into the moat.",
                          "You climb down the stairs."),
    "MiniHack-LavaCross-Levitate-Potion-Inv-Full-v0": ("You feel lighter than air.", "You float over the lava.",
                                                       "You climb down the stairs."),
    "MiniHack-WoD-Medium-Full-v0": ("g - a wand of death.", "You kill the minotaur!", "The death ray hits the minotaur!"),
    "MiniHack-Freeze-Lava-Full-v0": ("The lava cools and solidifies.", "g - a frost horn.", "h - a wand of cold."),
}


def is_minihack(task: str) -> bool:
    return task.startswith(MINIHACK_PREFIX)


@cache
def minihack_tasks() -> frozenset[str]:
    """MiniHack's registered task ids; importing ``minihack`` registers them with Gymnasium.

    Raises ``ImportError`` naming the install when MiniHack is missing (or cannot import:
    MiniHack 1.0.2 imports ``pkg_resources``, which setuptools 81 removed).
    """
    try:
        with warnings.catch_warnings():  # MiniHack's own pkg_resources deprecation notice
            warnings.simplefilter("ignore", UserWarning)
            importlib.import_module("minihack")
    except ImportError as exc:
        raise ImportError(f"MiniHack tasks need MiniHack: {MINIHACK_INSTALL} ({exc})") from exc
    return frozenset(task for task in gym.registry if is_minihack(task))


def check_task(task: str) -> str:
    """``task`` if it is one of :data:`TASKS` or a MiniHack task; else a ``ValueError`` listing choices."""
    if task in TASKS:
        return task
    if is_minihack(task):
        known = minihack_tasks()
        if task in known:
            return task
        near = sorted(t for t in known if t.split("-")[1] == task.split("-")[1]) if task.count("-") >= 1 else []
        hint = f"; MiniHack has {', '.join(near)}" if near else f"; MiniHack has {len(known)} tasks, e.g. MiniHack-KeyRoom-S5-v0"
        raise ValueError(f"unknown task {task!r}{hint}")
    raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)} or a MiniHack-* task")


def default_extrinsic_coef(task: str) -> float:
    """The reference's extrinsic coefficient: 0.1 on Score (dense), 10 on the sparse tasks.

    MiniHack's are sparse in the same way as NLE's staircase tasks: 1 on success and, like them,
    −0.01 for each step on which no game time passes (walking into a wall, a cancelled command),
    so the 10 weighs that penalty as the reference weighs NLE's.
    """
    return 0.1 if task.startswith("NetHackScore") else 10.0


@cache
def default_max_episode_steps(task: str) -> int:
    """5000 steps on the NetHack tasks; a MiniHack task's own limit (each sets its own in its
    constructor: 50 for WoD-Easy, 350 for River, 200 by default), which its level is sized for."""
    if not is_minihack(task):
        return 5000
    check_task(task)
    env = gym.make(task)
    try:
        return int(env.unwrapped._max_episode_steps)  # NLE keeps the limit it counts against here
    finally:
        env.close()


def make_task(
    task: str,
    *,
    extended_actions: bool = True,
    observation_keys: tuple[str, ...] = OBSERVATION_KEYS,
    max_episode_steps: int | None = None,
    **kwargs: object,
) -> gym.Env:
    """Builds one task with the policy's observation keys.

    NetHack tasks get the paper's action set (``extended_actions``); a MiniHack task keeps its
    own, and NLE's ``misc`` (the game waiting for an answer), which MiniHack does not expose, is
    left out of its keys. ``max_episode_steps`` defaults to the task's own
    (:func:`default_max_episode_steps`).

    The limit is Gymnasium's ``TimeLimit``, which truncates; NLE's own step limit is set one step
    past it. NLE checks its limit before counting the step, so an episode it ends there comes
    back ``terminated`` (as if it were over) and a learner would never bootstrap the value there.
    """
    check_task(task)
    limit = max_episode_steps or default_max_episode_steps(task)
    if is_minihack(task):
        observation_keys = tuple(key for key in observation_keys if key != "misc")
    elif extended_actions:
        kwargs["actions"] = EXTENDED_ACTIONS
    spec = gym.spec(task)
    spec = dataclasses.replace(spec, kwargs={**spec.kwargs, "max_episode_steps": limit + 1})
    return gym.make(spec, observation_keys=observation_keys, max_episode_steps=limit, **kwargs)


def action_count(task: str) -> int:
    """How many actions the policy chooses among on ``task``."""
    if not is_minihack(task):
        return len(EXTENDED_ACTIONS)
    env = make_task(task)
    try:
        return int(env.action_space.n)
    finally:
        env.close()
