"""``NetHackBatch``: several Gymnasium NetHack envs stepped in one loop, as one TorchRL env.

Why not TorchRL's ``SerialEnv`` of ``GymWrapper`` envs: TorchRL's env machinery (spec checks,
TensorDict building, transforms) costs ~0.9 ms per call, and a ``SerialEnv`` pays it once per env
per step, beside NetHack's own ~0.06 ms. Here the envs are plain Gymnasium envs stepped in a
Python loop into numpy, and TorchRL's machinery runs once per step for the whole batch
(``python -m benchmarks.step_costs`` times both). The env is a regular
``EnvBase`` with batch size ``[num_envs]``: collectors, ``ParallelEnv`` and transforms treat it
as they treat a ``SerialEnv``, partial resets included (only the envs whose episode ended are
reset; the final observation stays in ``"next"``, which truncated steps bootstrap from).

It also writes the three per-episode entries TorchRL's ``InitTracker``, ``StepCounter`` and
``RewardSum`` transforms would add (``is_init``, ``step_count``, ``episode_reward``, same keys,
shapes and meaning), kept in numpy beside the envs: as transforms they cost ~0.1 ms a step each.
``tests/oni_rl/test_batched_env.py`` checks them against the transforms on a ``SerialEnv``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tensordict import TensorDict, TensorDictBase
from torchrl.data import Categorical, Composite, Unbounded
from torchrl.envs import EnvBase


class NetHackBatch(EnvBase):
    """``num_envs`` envs built by ``make_env``, as one env of batch size ``[num_envs]``.

    Args:
        make_env: builds one Gymnasium env with a dict observation and a discrete action space.
        num_envs: how many envs step together.
        observation_keys: the observation entries the policy reads.
        info_keys: per-step ``info`` entries (numbers) copied into the data as float32, e.g. the
            episode statistics of :class:`oni_rl.episode_stats.EpisodeStats`.
    """

    def __init__(self, make_env: Callable[[], gym.Env], num_envs: int, observation_keys: Sequence[str],
                 info_keys: Sequence[str] = ()) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        super().__init__(batch_size=torch.Size([num_envs]), device="cpu")
        self._envs = [make_env() for _ in range(num_envs)]
        self._observation_keys = tuple(observation_keys)
        self._info_keys = tuple(info_keys)
        space = self._envs[0].observation_space
        action_space = self._envs[0].action_space
        if not isinstance(space, gym.spaces.Dict) or not isinstance(action_space, gym.spaces.Discrete):
            raise TypeError(f"NetHackBatch needs a dict observation and a discrete action space, got "
                            f"{type(space).__name__} and {type(action_space).__name__}")
        n = num_envs
        observations = {
            key: Unbounded(shape=(n, *space[key].shape), dtype=torch.from_numpy(np.zeros(0, space[key].dtype)).dtype)
            for key in self._observation_keys
        }
        infos = {key: Unbounded(shape=(n,), dtype=torch.float32) for key in self._info_keys}
        episode = {
            "is_init": Categorical(2, shape=(n, 1), dtype=torch.bool),
            "step_count": Unbounded(shape=(n, 1), dtype=torch.int64),
            "episode_reward": Unbounded(shape=(n, 1), dtype=torch.float32),
        }
        self.observation_spec = Composite(**observations, **infos, **episode, shape=(n,))
        self.action_spec = Categorical(int(action_space.n), shape=(n,))
        self.reward_spec = Unbounded(shape=(n, 1), dtype=torch.float32)
        flag = Categorical(2, shape=(n, 1), dtype=torch.bool)
        self.done_spec = Composite(done=flag, terminated=flag.clone(), truncated=flag.clone(), shape=(n,))
        self._last: list[tuple[dict[str, np.ndarray], dict[str, Any]]] = [({}, {})] * n
        self._step_count = np.zeros((n, 1), np.int64)
        self._episode_reward = np.zeros((n, 1), np.float32)

    # ----------------------------------------------------------------------- EnvBase API
    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDictBase:
        reset = tensordict.get("_reset", None) if tensordict is not None else None
        which = range(len(self._envs)) if reset is None else reset.reshape(-1).nonzero().reshape(-1).tolist()
        for i in which:
            self._last[i] = self._envs[i].reset()
        self._step_count[which] = 0
        self._episode_reward[which] = 0.0
        false = torch.zeros(*self.batch_size, 1, dtype=torch.bool)
        # is_init is True for every env here; where no reset was asked, TorchRL keeps the step's False
        return self._pack({"done": false, "terminated": false.clone(), "truncated": false.clone(),
                                       "is_init": ~false})

    def _step(self, tensordict: TensorDictBase) -> TensorDictBase:
        actions = tensordict.get("action").reshape(-1).tolist()
        n = len(self._envs)
        rewards = np.empty(n, np.float32)
        terminated = np.empty(n, bool)
        truncated = np.empty(n, bool)
        for i, (env, action) in enumerate(zip(self._envs, actions, strict=True)):
            obs, rewards[i], terminated[i], truncated[i], info = env.step(action)
            self._last[i] = (obs, info)
        terminated_t = torch.from_numpy(terminated).unsqueeze(-1)
        truncated_t = torch.from_numpy(truncated).unsqueeze(-1)
        self._step_count += 1
        self._episode_reward += rewards[:, None]
        return self._pack({
            "reward": torch.from_numpy(rewards).unsqueeze(-1),
            "done": terminated_t | truncated_t, "terminated": terminated_t, "truncated": truncated_t,
            "is_init": torch.zeros_like(terminated_t),
        })

    def _set_seed(self, seed: int | None) -> None:
        # env i gets seed + i; the next reset starts every env's game from its seed
        for i, env in enumerate(self._envs):
            env.reset(seed=None if seed is None else seed + i)

    def close(self, *, raise_if_closed: bool = True) -> None:
        for env in self._envs:
            env.close()
        super().close(raise_if_closed=raise_if_closed)

    # --------------------------------------------------------------------------- helpers
    def _pack(self, entries: dict[str, torch.Tensor]) -> TensorDictBase:
        """``entries`` plus every env's last observation and info, one tensor per key for the whole
        batch (np.stack copies: NLE reuses its arrays)."""
        for key in self._observation_keys:
            entries[key] = torch.from_numpy(np.stack([obs[key] for obs, _ in self._last]))
        for key in self._info_keys:
            entries[key] = torch.tensor([float(info[key]) for _, info in self._last], dtype=torch.float32)
        entries["step_count"] = torch.from_numpy(self._step_count.copy())
        entries["episode_reward"] = torch.from_numpy(self._episode_reward.copy())
        return TensorDict(entries, batch_size=self.batch_size)
