"""Which part of the wrapper's step costs NetHack steps/s: cumulative arms, end to end.

``wrapper_step_parts`` times each part in place with clocks around it, which costs something
itself; this one puts no clock inside the step. One NLE instance is stepped through a ladder of
wrappers, each doing one more part of ``OniRewardWrapper.step`` than the last (a copy of its
code, part by part), in the same interleaved rounds as ``wrapper_overhead`` (the order rotates
and reverses every other round):

    pass      forwards the call only (the floor of any Python wrapper)
    read      + the message read (``tobytes`` and the decoder's memo)
    count     + the episodic count of a non-empty message
    lookup    + the reward-table lookup (a plain dict of ``--table`` rows, no client thread)
    reward    + the mixed reward
    info      + ``info["oni"]``: every part of the real step, as the step was until stop 22
              (a 7-key dict literal, every part on every step)
    OniRewardWrapper(server=None), the real one: since stop 22 a copy of a quiet step's info
              with only what differs stored, and no count or lookup without a message
    info5     (with ``--slim-info``) as ``info`` with a 5-field ``info["oni"]``: the table version
              and staleness left out (a proposal: they are the client's, not the step's)

    python -m benchmarks.wrapper_ablation --rounds 14 --table 1000000 [--slim-info]
    python -m benchmarks.wrapper_ablation --message-shares   # what the game shows, no timing
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import gymnasium as gym
import nle  # noqa: F401
import numpy as np

from benchmarks.common import interpreter, synthetic_messages
from benchmarks.wrapper_overhead import PassThrough, abba, reset_same_game, timed_steps
from oni_wrappers import OniRewardWrapper
from oni_wrappers.messages import MessageDecoder
from oni_wrappers.reward import count_scaled_intrinsic


class Read(gym.Wrapper):
    def __init__(self, env: gym.Env, table: dict[str, float]) -> None:
        super().__init__(env)
        self._messages = MessageDecoder()
        self._episode_counts: dict[str, int] = {}
        self.table = table

    def reset(self, **kwargs: Any):  # type: ignore[no-untyped-def]
        self._episode_counts = {}
        return self.env.reset(**kwargs)

    def step(self, action: Any):  # type: ignore[no-untyped-def]
        obs, extrinsic, terminated, truncated, info = self.env.step(action)
        self._messages[obs["message"].tobytes()]
        return obs, extrinsic, terminated, truncated, info


class Count(Read):
    def step(self, action: Any):  # type: ignore[no-untyped-def]
        obs, extrinsic, terminated, truncated, info = self.env.step(action)
        message = self._messages[obs["message"].tobytes()]
        if message:
            count = self._episode_counts.get(message, 0) + 1
            self._episode_counts[message] = count
        return obs, extrinsic, terminated, truncated, info


class Lookup(Read):
    def step(self, action: Any):  # type: ignore[no-untyped-def]
        obs, extrinsic, terminated, truncated, info = self.env.step(action)
        message = self._messages[obs["message"].tobytes()]
        intrinsic = 0.0
        if message:
            count = self._episode_counts.get(message, 0) + 1
            self._episode_counts[message] = count
            looked_up = self.table.get(message)
            if looked_up is not None:
                intrinsic = looked_up  # noqa: F841 - as the real step does; used by the next arms
        return obs, extrinsic, terminated, truncated, info


class Reward(Read):
    def step(self, action: Any):  # type: ignore[no-untyped-def]
        obs, extrinsic, terminated, truncated, info = self.env.step(action)
        message = self._messages[obs["message"].tobytes()]
        intrinsic = 0.0
        count = 0
        if message:
            count = self._episode_counts.get(message, 0) + 1
            self._episode_counts[message] = count
            looked_up = self.table.get(message)
            if looked_up is not None:
                intrinsic = looked_up
        paid = 0.0
        if intrinsic:
            paid = 0.4 * count_scaled_intrinsic(intrinsic, count, 3.0)
        reward = 0.1 * float(extrinsic) + paid
        return obs, reward, terminated, truncated, info


class Info(Read):
    def step(self, action: Any):  # type: ignore[no-untyped-def]
        obs, extrinsic, terminated, truncated, info = self.env.step(action)
        message = self._messages[obs["message"].tobytes()]
        intrinsic = 0.0
        count = 0
        if message:
            count = self._episode_counts.get(message, 0) + 1
            self._episode_counts[message] = count
            looked_up = self.table.get(message)
            if looked_up is not None:
                intrinsic = looked_up
        paid = 0.0
        if intrinsic:
            paid = 0.4 * count_scaled_intrinsic(intrinsic, count, 3.0)
        reward = 0.1 * float(extrinsic) + paid
        info["oni"] = {"message": message, "extrinsic": extrinsic, "intrinsic": intrinsic, "intrinsic_paid": paid,
                       "episode_count": count, "table_version": 0, "stale": False}
        return obs, reward, terminated, truncated, info


class SlimInfo(Read):
    def step(self, action: Any):  # type: ignore[no-untyped-def]
        obs, extrinsic, terminated, truncated, info = self.env.step(action)
        message = self._messages[obs["message"].tobytes()]
        intrinsic = 0.0
        count = 0
        if message:
            count = self._episode_counts.get(message, 0) + 1
            self._episode_counts[message] = count
            looked_up = self.table.get(message)
            if looked_up is not None:
                intrinsic = looked_up
        paid = 0.0
        if intrinsic:
            paid = 0.4 * count_scaled_intrinsic(intrinsic, count, 3.0)
        reward = 0.1 * float(extrinsic) + paid
        info["oni"] = {"message": message, "extrinsic": extrinsic, "intrinsic": intrinsic, "intrinsic_paid": paid,
                       "episode_count": count}
        return obs, reward, terminated, truncated, info


def build_arms(table_rows: int, *, slim_info: bool = False) -> dict[str, gym.Env]:
    """The ladder over one NLE instance, raw first; the lookup arms share one table of ``table_rows``."""
    table = dict.fromkeys(synthetic_messages(table_rows), 0.0)
    raw = gym.make("NetHackScore-v0")
    arms: dict[str, gym.Env] = {"raw NetHackScore": raw, "pass": PassThrough(raw)}
    for name, cls in (("read", Read), ("count", Count), ("lookup", Lookup), ("reward", Reward), ("info", Info)):
        arms[name] = cls(raw, table)
    if slim_info:
        arms["info5"] = SlimInfo(raw, table)
    arms["OniRewardWrapper"] = OniRewardWrapper(raw, server=None)
    return arms


def message_shares(actions: np.ndarray, seed: int) -> str:
    """What the benchmark's game shows: the share of steps with no message, and with one of 64 bytes
    or more (the step's cost depends on both: no message skips the count and the lookup)."""
    env = gym.make("NetHackScore-v0")
    reset_same_game(env, seed)
    lengths = []
    for action in actions:
        obs, _, terminated, truncated, _ = env.step(action)
        end = obs["message"].tobytes().find(b"\0")
        lengths.append(end if end >= 0 else len(obs["message"]))
        if terminated or truncated:
            reset_same_game(env, seed)
    env.close()
    lengths_array = np.array(lengths)
    return (f"{len(lengths)} steps: no message on {np.mean(lengths_array == 0):.1%}, "
            f"a message of 64 bytes or more on {np.mean(lengths_array >= 64):.1%}")


def add_ladder_args(p: argparse.ArgumentParser, *, rounds: int) -> None:
    """The ladder's options (``wrapper_counters`` runs the same ladder)."""
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=rounds)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--table", type=int, default=1_000_000, help="rows of the lookup arms' table")
    p.add_argument("--slim-info", action="store_true", help="an arm with a 5-field info['oni']")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_ladder_args(p, rounds=14)
    p.add_argument("--message-shares", action="store_true",
                   help="only print how many of the game's steps show no message, or a long one")
    args = p.parse_args()
    if args.message_shares:
        print(message_shares(np.random.default_rng(args.seed).integers(0, 23, size=args.steps), args.seed))
        return
    print(interpreter(), flush=True)
    arms = build_arms(args.table, slim_info=args.slim_info)
    actions = np.random.default_rng(args.seed).integers(0, 23, size=args.steps)
    for env in arms.values():  # warm every memo on this game's messages
        timed_steps(env, actions, args.seed)
    rates = abba(arms, actions, args)
    raw_rates = rates["raw NetHackScore"]
    print(f"{args.rounds} rounds x {args.steps} steps, table {args.table} rows; ratio to raw NLE per round")
    print(f"{'arm':<18} {'steps/s':>8} {'median':>7} {'mean':>6} {'IQR':>13}")
    for name, values in rates.items():
        ratios = [w / r for w, r in zip(values, raw_rates, strict=True)]
        q = statistics.quantiles(ratios, n=4)
        print(f"{name:<18} {statistics.median(values):8.0f} {statistics.median(ratios):7.3f} "
              f"{statistics.mean(ratios):6.3f}  {q[0]:.3f}-{q[2]:.3f}")


if __name__ == "__main__":
    main()
