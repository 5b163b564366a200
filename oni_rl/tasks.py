"""The paper's NetHack tasks as Gymnasium envs: Score, Oracle, StaircaseLvl3 and StaircaseLvl4.

NLE ships Score and Oracle; the two deeper staircase tasks are not in NLE. ``StaircaseLvlN``
pays 1 the first time the hero reaches dungeon level N (``blstats`` depth) and ends the
episode there, on top of NLE's usual frozen-step penalty. All four use the *extended* action
set: NLE's 23 task actions (moves, more, up/down, wait, kick, eat, search) plus the commands an
agent needs to survive deeper than level 1 (pray, quaff, pick up, cast, read, apply, wear,
wield, zap, throw, fire, put on, open, close, escape and the yes/no answers).

``make_task("NetHackStaircaseLvl3-v0")`` or ``gymnasium.make`` after ``import oni_rl.tasks``.
"""

from __future__ import annotations

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


def default_extrinsic_coef(task: str) -> float:
    """The reference's extrinsic coefficient: 0.1 on Score (dense), 10 on the sparse tasks."""
    return 0.1 if task.startswith("NetHackScore") else 10.0


def make_task(
    task: str,
    *,
    extended_actions: bool = True,
    observation_keys: tuple[str, ...] = OBSERVATION_KEYS,
    max_episode_steps: int = 5000,
    **kwargs: object,
) -> gym.Env:
    """Builds one of :data:`TASKS` with the paper's action set and the policy's observation keys."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
    if extended_actions:
        kwargs["actions"] = EXTENDED_ACTIONS
    return gym.make(
        task, observation_keys=observation_keys, max_episode_steps=max_episode_steps, **kwargs
    )
