"""``OniRewardWrapper``: adds ONI's LLM-derived intrinsic reward to any env with a message.

Per step the wrapper does: decode the message (a memo hit: ``tobytes`` and one subscript), the
reward arithmetic and ``info["oni"]`` (a copy of a quiet step's dict, see
:mod:`oni_wrappers.step_info`); only when there is a message, one counter increment and one
dict lookup in the mirrored reward table; only when the message is paid, one more lookup (the
earlier episodes that paid it). Nothing more: the step should cost under 5% of NLE's
own, and after NetHack's C step every Python operation runs on cold caches, several times slower
than in a micro-benchmark, so each one counts (``benchmarks/wrapper_overhead.py`` times the
wrapper against raw NLE; docs/results.md says what each part was measured to cost). New
messages are handed to the :class:`~oni_wrappers.client.RewardClient` thread, which talks to
the server; nothing on the step path touches the network or takes a lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from oni_wrappers.client import RewardClient
from oni_wrappers.messages import MessageDecoder
from oni_wrappers.reward import count_scaled_intrinsic
from oni_wrappers.step_info import quiet_step_info


class MissingMessageError(ValueError):
    """The wrapped env has no message in its observations, so ONI has nothing to reward."""


class OniRewardWrapper(gym.Wrapper):
    """Reward = ``extrinsic_coef * r_ext + intrinsic_coef * r_int(msg) / N_episode(msg)^beta``
    (``/ (1 + E(msg))^gamma`` with a cross-episode exponent, see below).

    Args:
        env: an env whose dict observation holds the game message as a uint8 array (NLE,
            MiniHack), under ``message_key``.
        server: URL of a running reward server, or a :class:`RewardClient`; ``None`` runs
            with an empty table (intrinsic reward 0), e.g. for extrinsic-only baselines.
        intrinsic_coef, extrinsic_coef: the two mixing coefficients.
        count_exponent: beta in ``N^beta``; 0 disables the episodic count scaling.
        cross_episode_exponent: gamma: a message paid in E earlier episodes of this env pays
            ``1 / (1 + E)^gamma`` of its reward. 0 (the paper's) pays it afresh every episode,
            which an agent on short episodes can farm: repeating, every 20 steps, a message a
            weak judge scores just above its cut. With gamma > 0 such a message pays less and
            less while a progress message the agent rarely reaches keeps most of its reward
            (until it too is reached every episode). E counts only episodes in which the
            message was paid (not sightings before its label), is this env's own (each env of a
            vector env keeps one: the decay per frame depends on how many envs share the
            frames), holds one entry per paid message, and is not saved: a resumed run counts
            again from 0.
        message_key: observation key holding the message bytes.
        sync_interval: seconds between the client thread's exchanges with the server.
        token: bearer token of a server started with ``--token`` (default: ``$ONI_TOKEN``).

    ``info["oni"]`` holds, every step, the message, the extrinsic and (unscaled) intrinsic
    rewards, ``intrinsic_paid`` (the intrinsic term this step's reward holds: coefficient, count
    scaling and cross-episode decay applied, 0.0 when none), the episodic count of the message, the reward-table
    version used and ``stale``:
    True when the table has not been synced with the server for a while (the server is down
    or unreachable; the env is paid from the last table it got).
    """

    def __init__(
        self,
        env: gym.Env,
        server: str | RewardClient | None = "http://127.0.0.1:8765",
        *,
        intrinsic_coef: float = 0.4,
        extrinsic_coef: float = 0.1,
        count_exponent: float = 3.0,
        cross_episode_exponent: float = 0.0,
        message_key: str = "message",
        sync_interval: float = 1.0,
        token: str | None = None,
    ) -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Dict) or message_key not in space.spaces:
            keys = list(space.spaces) if isinstance(space, gym.spaces.Dict) else type(space).__name__
            raise MissingMessageError(
                f"OniRewardWrapper needs a dict observation with a {message_key!r} entry "
                f"(as NLE and MiniHack envs have); this env's observation space is {keys}. "
                "Pass message_key=... if the message lives under another key."
            )
        self.intrinsic_coef = float(intrinsic_coef)
        self.extrinsic_coef = float(extrinsic_coef)
        self.count_exponent = float(count_exponent)
        if cross_episode_exponent < 0:
            raise ValueError(f"cross_episode_exponent must be >= 0, got {cross_episode_exponent}")
        self.cross_episode_exponent = float(cross_episode_exponent)
        self.message_key = message_key
        self._sync_interval = sync_interval
        self._token = token
        self._server = server
        self.client = self._connect(server)
        self._messages = MessageDecoder()
        self._episode_counts: dict[str, int] = {}
        #: Per message, the earlier episodes of this env that paid it, and the messages this
        #: episode paid; both stay empty with gamma = 0 (paying then costs one lookup in an empty dict).
        self._paid_episodes: Counter[str] = Counter()
        self._paid_now: set[str] = set()
        #: The env's message array and its bytes getter, kept while the env reuses the array
        #: (NLE does): ``memoryview.tobytes`` is cheaper than ``ndarray.tobytes``.
        self._message_array: Any = None
        self._message_bytes: Callable[[], bytes] = bytes
        self._quiet_step_info = quiet_step_info()  # without a client: table version 0, never stale

    def _connect(self, server: str | RewardClient | None) -> RewardClient | None:
        if server is None or isinstance(server, RewardClient):
            return server
        return RewardClient.shared(server, sync_interval=self._sync_interval, token=self._token)

    # --------------------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if self.client is not None:
            self.client.ensure_running()
            self.client.record_episode(self._episode_counts)
        if self._paid_now:
            self._paid_episodes.update(self._paid_now)
            self._paid_now = set()
        self._episode_counts = {}
        obs, info = self.env.reset(seed=seed, options=options)
        return obs, info

    def step(self, action: Any):
        obs, extrinsic, terminated, truncated, info = self.env.step(action)
        message_array = obs[self.message_key]
        if message_array is not self._message_array:  # NLE refills one array in place: this runs once
            self._message_array = message_array
            self._message_bytes = memoryview(message_array).tobytes
        message = self._messages[self._message_bytes()]
        client = self.client
        oni = (client.quiet_step_info if client is not None else self._quiet_step_info).copy()
        if extrinsic:
            reward = self.extrinsic_coef * float(extrinsic)
            oni["extrinsic"] = extrinsic
        else:  # nearly every step
            reward = 0.0
        if message:  # none on a fifth of random play's steps: no count, no lookup
            count = self._episode_counts.get(message, 0) + 1
            self._episode_counts[message] = count
            oni["message"] = message
            oni["episode_count"] = count
            if client is not None:
                intrinsic = client.table.get(message)
                if intrinsic is None:
                    client.observe(message)
                elif intrinsic:
                    paid = self.intrinsic_coef * count_scaled_intrinsic(
                        intrinsic, count, self.count_exponent, self._paid_episodes.get(message, 0),
                        self.cross_episode_exponent)
                    if self.cross_episode_exponent:
                        self._paid_now.add(message)
                    reward += paid
                    oni["intrinsic"] = intrinsic
                    oni["intrinsic_paid"] = paid
        info["oni"] = oni
        return obs, reward, terminated, truncated, info

    def close(self) -> None:
        if self.client is not None:
            self.client.record_episode(self._episode_counts)
            self._episode_counts = {}
        super().close()

    # ------------------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["client"] = None  # reconnected from _server on the other side
        state["_message_array"], state["_message_bytes"] = None, bytes  # a memoryview does not pickle
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.client = self._connect(self._server)

