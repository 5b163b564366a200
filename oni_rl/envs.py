"""One training env: NLE task → ``OniRewardWrapper`` → episode statistics → TorchRL ``GymWrapper``.

The factory is a picklable ``EnvFactory`` so that TorchRL's multi-process and Ray collectors can
build the env inside each worker; every worker's wrapper opens its own client to the reward
server (no env ever waits on the network: see ``OniRewardWrapper``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from nle import nethack
from torchrl.data import Unbounded
from torchrl.envs import (
    Compose,
    GymWrapper,
    InitTracker,
    RewardSum,
    StepCounter,
    TensorDictPrimer,
    TransformedEnv,
)
from torchrl.envs.gym_like import default_info_dict_reader

from oni_rl.batched_env import NetHackBatch
from oni_rl.tasks import OBSERVATION_KEYS, make_task
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


@dataclass(frozen=True)
class EnvFactory:
    """Builds one TorchRL env; a plain dataclass so collectors can pickle it to their workers."""

    task: str
    server: str | None  # reward server URL; None = extrinsic reward only
    intrinsic_coef: float = 0.4
    extrinsic_coef: float = 0.1
    count_exponent: float = 3.0
    hidden_size: int = 256
    max_episode_steps: int | None = None  # None: the task's own (oni_rl.tasks.make_task)
    token: str | None = None  # the reward server's bearer token (None: $ONI_TOKEN)

    def gym_env(self) -> EpisodeStats:
        """One Gymnasium env: the task, the ONI reward wrapper, the episode statistics."""
        task_env = make_task(self.task, observation_keys=OBSERVATION_KEYS + STATS_OBSERVATION_KEYS,
                             max_episode_steps=self.max_episode_steps)
        oni = OniRewardWrapper(
            task_env, server=self.server, intrinsic_coef=self.intrinsic_coef,
            extrinsic_coef=self.extrinsic_coef, count_exponent=self.count_exponent, token=self.token,
        )
        return EpisodeStats(oni)

    def __call__(self) -> TransformedEnv:
        """One env through TorchRL's ``GymWrapper`` (batch size ``[]``)."""
        base = GymWrapper(self.gym_env(), categorical_action_encoding=True)
        base.set_info_dict_reader(
            default_info_dict_reader(
                list(STAT_KEYS),
                spec={key: Unbounded(shape=(), dtype=torch.float32) for key in STAT_KEYS},
            )
        )
        return TransformedEnv(base, Compose(  # the episode entries the trainer reads, and the LSTM state
            InitTracker(), StepCounter(), RewardSum(), self.recurrent_state_primer()
        ))

    def batched(self, num_envs: int) -> TransformedEnv:
        """``num_envs`` envs as one TorchRL env of batch size ``[num_envs]`` (what a worker steps):
        the same data as a ``SerialEnv`` of ``__call__`` envs, at a fraction of its cost per step."""
        batch = NetHackBatch(self.gym_env, num_envs, OBSERVATION_KEYS, STAT_KEYS)  # tracks the episodes itself
        return TransformedEnv(batch, self.recurrent_state_primer())

    def recurrent_state_primer(self) -> TensorDictPrimer:
        """Zero LSTM state in every reset, so the policy's state travels with the data."""
        shape = (1, self.hidden_size)  # (layers, hidden), as torchrl.modules.LSTMModule stores it
        return TensorDictPrimer(
            {
                "recurrent_state_h": Unbounded(shape=shape, dtype=torch.float32),
                "recurrent_state_c": Unbounded(shape=shape, dtype=torch.float32),
            },
            expand_specs=True,
        )
