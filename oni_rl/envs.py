"""One training env: NLE task → ``OniRewardWrapper`` → episode statistics → TorchRL ``GymWrapper``.

The factory is a picklable ``EnvFactory`` so that TorchRL's multi-process and Ray collectors can
build the env inside each worker; every worker's wrapper opens its own client to the reward
server (no env ever waits on the network: see ``OniRewardWrapper``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
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
from oni_rl.episode_stats import STAT_KEYS, STATS_OBSERVATION_KEYS, EpisodeStats
from oni_rl.tasks import OBSERVATION_KEYS, make_task
from oni_wrappers import OniRewardWrapper


@dataclass(frozen=True)
class EnvFactory:
    """Builds one TorchRL env; a plain dataclass so collectors can pickle it to their workers."""

    task: str
    server: str | None  # reward server URL; None = extrinsic reward only
    intrinsic_coef: float = 0.4
    extrinsic_coef: float = 0.1
    count_exponent: float = 3.0
    cross_episode_exponent: float = 0.0
    hidden_size: int = 256
    max_episode_steps: int | None = None  # None: the task's own (oni_rl.tasks.make_task)
    token: str | None = None  # the reward server's bearer token (None: $ONI_TOKEN)

    def gym_env(self) -> EpisodeStats:
        """One Gymnasium env: the task, the ONI reward wrapper, the episode statistics."""
        task_env = make_task(self.task, observation_keys=OBSERVATION_KEYS + STATS_OBSERVATION_KEYS,
                             max_episode_steps=self.max_episode_steps)
        oni = OniRewardWrapper(
            task_env, server=self.server, intrinsic_coef=self.intrinsic_coef,
            extrinsic_coef=self.extrinsic_coef, count_exponent=self.count_exponent,
            cross_episode_exponent=self.cross_episode_exponent, token=self.token,
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
