"""Where the wrapper's step time goes, part by part, timed in place on NLE (issue 15).

A micro-benchmark of the wrapper's parts says little: right after NetHack's C step every Python
operation runs on cold caches and costs several times what it costs in a tight loop. So each
part is timed where ``OniRewardWrapper.step`` runs it, right after a real ``NetHackScore-v0`` step
and in the wrapper's order, with ``perf_counter_ns`` around it and the cost of an empty pair of
timer calls (measured on every step too) subtracted:

* **message read**: the decoder's memo hit, ``decoder[array.tobytes()]`` (now) vs a call of its
  ``decode`` method (before issue 15's last change);
* **episode count** and **table lookup** (a table of ``--table`` rows holding this game's messages);
* **staleness**: ``RewardClient.stale``, a plain attribute the client's thread keeps (now), vs the
  clock check its property made on every read (before);
* **info["oni"]**: the per-step dict.

"before" and "now" alternate round by round (ABBA) with a third arm, NetHack stepped with
nothing between its steps, over the same game and actions. Printed per part: µs per step and its
share of NetHack's own step, timed the same way; and NetHack's step time in each arm, which shows
what the parts cost NetHack itself (the caches they take from its next step).

    python -m benchmarks.wrapper_step_parts --table 1000000
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import nle  # noqa: F401
import numpy as np

from benchmarks.common import synthetic_messages
from benchmarks.wrapper_overhead import reset_same_game
from oni_wrappers import MessageDecoder, RewardClient

PARTS = ("nethack step", "message read", "episode count", "table lookup", "staleness", 'info["oni"]')


class ClockedStaleness:
    """The staleness check as ``RewardClient.stale`` made it before: a property reading the clock."""

    def __init__(self, stale_after: float = 30.0) -> None:
        self.stale_after = stale_after
        self._last_sync = time.monotonic()
        self.version = 0

    @property
    def stale(self) -> bool:
        return time.monotonic() - self._last_sync > self.stale_after


def nethack_alone(env: gym.Env, actions: np.ndarray, seed: int) -> float:
    """Nanoseconds per NetHack step timed the same way, with no wrapper part between steps."""
    ns = time.perf_counter_ns
    total = timer = 0
    reset_same_game(env, seed)
    for action in actions:
        t0 = ns()
        _, _, terminated, truncated, _ = env.step(action)
        t1 = ns()
        t2 = ns()
        total += t1 - t0
        timer += t2 - t1
        if terminated or truncated:
            reset_same_game(env, seed)
    return (total - timer) / len(actions)


def timed_round(env: gym.Env, actions: np.ndarray, seed: int, table: dict[str, float],
                before: bool) -> dict[str, float]:
    """Nanoseconds per step of each part, over one pass of ``actions``."""
    ns = time.perf_counter_ns
    decoder = MessageDecoder()
    decode = decoder.decode
    client: RewardClient | ClockedStaleness = ClockedStaleness() if before else RewardClient("http://127.0.0.1:9")
    totals = dict.fromkeys(PARTS, 0)
    timer = 0
    counts: dict[str, int] = {}
    reset_same_game(env, seed)
    for action in actions:
        t0 = ns()
        obs, extrinsic, terminated, truncated, info = env.step(action)
        t1 = ns()
        t2 = ns()  # t2 - t1: what a timer pair itself costs here
        message = decode(obs["message"]) if before else decoder[obs["message"].tobytes()]
        t3 = ns()
        count = counts.get(message, 0) + 1
        counts[message] = count
        t4 = ns()
        intrinsic = table.get(message, 0.0)
        t5 = ns()
        stale = client.stale
        t6 = ns()
        info["oni"] = {"message": message, "extrinsic": extrinsic, "intrinsic": intrinsic, "intrinsic_paid": 0.0,
                       "episode_count": count, "table_version": client.version, "stale": stale}
        t7 = ns()
        timer += t2 - t1
        for part, spent in zip(PARTS, (t1 - t0, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6), strict=True):
            totals[part] += spent
        if terminated or truncated:
            reset_same_game(env, seed)
            counts.clear()
    steps = len(actions)
    return {part: (total - timer) / steps for part, total in totals.items()}


def game_messages(env: gym.Env, actions: np.ndarray, seed: int) -> set[str]:
    decoder = MessageDecoder()
    reset_same_game(env, seed)
    seen = set()
    for action in actions:
        obs, _, terminated, truncated, _ = env.step(action)
        seen.add(decoder.decode(obs["message"]))
        if terminated or truncated:
            reset_same_game(env, seed)
    return seen


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--table", type=int, default=1_000_000, help="rows in the mirrored reward table")
    args = p.parse_args()

    env = gym.make("NetHackScore-v0")
    actions = np.random.default_rng(args.seed).integers(0, 23, size=args.steps)
    table = {text: float(i % 2) for i, text in enumerate(synthetic_messages(args.table))}
    table.update(dict.fromkeys(game_messages(env, actions, args.seed), 0.0))
    per_arm: dict[str, dict[str, list[float]]] = {arm: {part: [] for part in PARTS} for arm in ("before", "now")}
    alone: list[float] = []
    arms = ("before", "now", "alone")
    for round_index in range(args.rounds):
        for arm in arms if round_index % 2 == 0 else arms[::-1]:
            if arm == "alone":
                alone.append(nethack_alone(env, actions, args.seed))
                continue
            for part, spent in timed_round(env, actions, args.seed, table, arm == "before").items():
                per_arm[arm][part].append(spent)
    medians = {arm: {part: statistics.median(v) / 1000 for part, v in parts.items()} for arm, parts in per_arm.items()}
    nethack = medians["now"]["nethack step"]
    print(f"{len(table):,} table rows, {args.steps} steps x {args.rounds} rounds; µs per step (median of rounds), "
          f"share of NetHack's step")
    print(f"{'part':15s} {'before':>8s} {'now':>8s} {'now %':>7s}")
    for part in PARTS:
        before, now = medians["before"][part], medians["now"][part]
        print(f"{part:15s} {before:8.3f} {now:8.3f} {100 * now / nethack:6.2f}%")
    wrapper_parts = PARTS[1:]
    for arm in ("before", "now"):
        total = sum(medians[arm][part] for part in wrapper_parts)
        print(f"wrapper parts, {arm}: {total:.3f} µs = {100 * total / nethack:.2f}% of NetHack's step")
    print(f"NetHack's step with nothing between steps: {statistics.median(alone) / 1000:.3f} µs (the parts' cache "
          f"misses slow NetHack's own next step: compare with the nethack step row)")


if __name__ == "__main__":
    main()
