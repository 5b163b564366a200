"""What an episode was made of, in ``info``: the parts of its return and what the agent did.

Plain Gymnasium (no torch): oni's TorchRL trainer reads it (``oni_rl.envs``) and so does Sample
Factory's env (``oni_rl.sample_factory``), each in its own environment.
"""

from __future__ import annotations

import re
from typing import Any

import gymnasium as gym
import numpy as np
from nle import nethack

from oni_wrappers import OniRewardWrapper

TASK_SUCCESSFUL = 2  # NLE's StepStatus for a won task (Staircase*, Oracle)

#: per-step info written by :class:`EpisodeStats`, read into the collected data
STAT_KEYS: tuple[str, ...] = (
    "episode_extrinsic", "episode_intrinsic", "step_intrinsic", "score", "success", "table_version",
    "kills", "gold", "depth", "menu_steps",
)
#: NLE's ``misc`` observation: the game waits for a yes/no answer, a typed line, or a key after --More--
STATS_OBSERVATION_KEYS: tuple[str, ...] = ("misc",)
#: the hero's own kills ("You kill the newt!", "You destroy the zombie!"), not a pet's
_KILL = re.compile(r"\bYou (?:kill|destroy)\b")


class EpisodeStats(gym.Wrapper):
    """Puts what a user wants to see per episode into ``info`` as flat floats, every step.

    ``episode_extrinsic`` is the task's own reward summed so far (before any coefficient),
    ``episode_intrinsic`` the ONI part of the training reward summed so far, ``step_intrinsic``
    this step's ONI part (0 on most steps), ``score`` the
    in-game score (``blstats``, the episode's best), ``success`` 1 when the task was won on this step, and
    ``table_version`` the reward table the wrapper used. What the agent *does* is counted too, to
    say what a score is made of: ``kills`` (steps whose message says the hero killed something),
    ``gold`` and ``depth`` (the episode's most gold carried and deepest dungeon level) and
    ``menu_steps`` (steps spent answering the game: a yes/no question, a typed line, --More--;
    NaN on MiniHack, whose observations lack NLE's ``misc``). The trainer reads them at episode ends.
    """

    def __init__(self, env: OniRewardWrapper) -> None:
        super().__init__(env)
        self._oni = env
        # the stats' own observations (``misc``) are read here and kept from the agent
        spaces = env.observation_space.spaces  # type: ignore[attr-defined]
        self._counts_menus = "misc" in spaces
        self.observation_space = gym.spaces.Dict(
            {key: space for key, space in spaces.items() if key not in STATS_OBSERVATION_KEYS})
        self._extrinsic = 0.0
        self._intrinsic = 0.0
        self._score = 0.0  # the best seen: NLE's final observation after death can be blank
        self._kills = self._gold = self._depth = self._menu_steps = 0.0

    def reset(self, **kwargs: Any):  # type: ignore[no-untyped-def]
        self._extrinsic = 0.0
        self._intrinsic = 0.0
        self._score = 0.0
        self._kills = self._gold = self._depth = self._menu_steps = 0.0
        obs, info = self.env.reset(**kwargs)
        obs.pop("misc", None)  # NLE builds a new dict each step: taking the key out costs no copy
        return obs, self._fill(info, obs, success=0.0, step_intrinsic=0.0)

    def step(self, action: Any):  # type: ignore[no-untyped-def]
        obs, reward, terminated, truncated, info = self.env.step(action)
        extrinsic = float(info["oni"]["extrinsic"])
        self._extrinsic += extrinsic
        step_intrinsic = float(info["oni"]["intrinsic_paid"])
        self._intrinsic += step_intrinsic
        success = float(info.get("end_status") == TASK_SUCCESSFUL)
        self._kills += _KILL.search(info["oni"]["message"]) is not None
        menu = obs.pop("misc", None)  # read, and kept from the agent, without copying the dict
        if menu is not None:
            self._menu_steps += bool(menu.any())
        return obs, reward, terminated, truncated, self._fill(info, obs, success, step_intrinsic)

    def _fill(self, info: dict[str, Any], obs: dict[str, np.ndarray], success: float,
              step_intrinsic: float) -> dict[str, Any]:
        version = self._oni.client.version if self._oni.client is not None else 0
        blstats = obs["blstats"]
        self._score = max(self._score, float(blstats[nethack.NLE_BL_SCORE]))
        self._gold = max(self._gold, float(blstats[nethack.NLE_BL_GOLD]))
        self._depth = max(self._depth, float(blstats[nethack.NLE_BL_DEPTH]))
        menu_steps = self._menu_steps if self._counts_menus else float("nan")
        values = (self._extrinsic, self._intrinsic, step_intrinsic, self._score, success, version,
                  self._kills, self._gold, self._depth, menu_steps)
        for key, value in zip(STAT_KEYS, values, strict=True):
            info[key] = np.float32(value)  # TorchRL's info reader wants numpy scalars
        return info
