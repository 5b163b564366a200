"""Wrapper overhead: steps/s of ``OniRewardWrapper(NetHackScore)`` ÷ steps/s of raw ``NetHackScore``.

Three arms step the same NLE instance over the same game (NLE core/disp seeds) and the same
random actions, in the same process, in interleaved rounds (the order rotates each round and
reverses every other one), so they see the same machine noise:

* raw ``NetHackScore-v0``;
* ``PassThrough``, a ``gymnasium.Wrapper`` whose step only forwards the call: the floor any
  Python wrapper pays;
* ``OniRewardWrapper`` with its client talking to a live reward server in its own process, as in
  production. The server's store is warmed first, so the LLM is idle during the timed rounds and
  only the wrapper's own cost (decode, count, lookup, ``info["oni"]``, client thread) is measured.

Printed: steps/s per arm and each wrapper's ratio to raw, median and per round. Target: the
``OniRewardWrapper`` ratio >= 0.95.

``--table N`` gives the client a table of N rows and a delta every second: the server starts on
a store of N messages already labelled (synthetic NLE-like messages), the wrapped env takes the
whole table once in its warm-up (gzip, in the client thread), and during the timed rounds a
feeder posts 50 new messages a second, which the server publishes at once as unlabelled rows.
The feeder is a process of its own, as the other wrappers that send those messages would be: a
thread here would take this process's GIL from the env. Its LLM is left unreachable on purpose
(``--llm`` at a closed port, ``--no-preflight``): the deltas come from the server's table, and no
LLM competes for the cores. ``--no-server`` measures the wrapper with no client at all.

Three traps this design avoids: ``env.reset(seed=s)`` does not make NLE replay the same game
(its own ``seed(core, disp, reseed=False)`` does); two NLE instances differ in speed by up to ~10%
on their own, so every arm steps one instance; and whichever arm runs first in a pair tends to be
slower, so the order rotates. One run's median moves by about a point from run to run on a shared
2-core machine: compare several runs before reading a difference of that size.

    python -m benchmarks.wrapper_overhead --steps 20000 --rounds 20 --table 1000000
    python -m benchmarks.wrapper_overhead --steps 20000 --rounds 10              # a table of this game's messages
    python -m benchmarks.wrapper_overhead --steps 20000 --rounds 10 --no-server  # the wrapper alone
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from contextlib import ExitStack
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

import gymnasium as gym
import httpx
import nle  # noqa: F401
import numpy as np

from benchmarks.common import (
    free_port,
    interpreter,
    make_labelled_store,
    running_server,
    synthetic_messages,
    wait_until_labelled,
)
from oni_wrappers import OniRewardWrapper

#: a server whose LLM never answers (a closed port) and that starts without asking it
NO_LLM = ["--llm", "hosted_vllm/none", "--api-base", f"http://127.0.0.1:{free_port()}/v1", "--no-preflight",
          "--calibration", "fixed", "--llm-retries", "0"]


def feed(url: str, stop: EventType, start: int, per_second: int = 50) -> None:
    """Post ``per_second`` new messages every second until stopped: one table delta a second."""
    sent = 0
    with httpx.Client(base_url=url, timeout=30) as http:
        while not stop.wait(1.0):
            batch = synthetic_messages(per_second, start=start + sent)
            http.post("/v1/messages", json={"messages": [{"text": m} for m in batch]})
            sent += per_second


def reset_same_game(env: gym.Env, seed: int) -> None:
    # NLE's reset(seed=...) does not fix the dungeon; its own seed(core, disp) does.
    env.unwrapped.seed(core=seed, disp=seed + 1, reseed=False)
    env.reset()


def timed_steps(env: gym.Env, actions: np.ndarray, seed: int) -> float:
    reset_same_game(env, seed)
    started = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            reset_same_game(env, seed)
    return len(actions) / (time.perf_counter() - started)


class PassThrough(gym.Wrapper):
    """A wrapper that does nothing but forward the step: the floor of any Python wrapper."""

    def step(self, action):  # type: ignore[no-untyped-def]
        return self.env.step(action)


def abba(arms: dict[str, gym.Env], actions: np.ndarray, args: argparse.Namespace) -> dict[str, list[float]]:
    """Steps/s of each arm over ``args.rounds`` rounds; with two arms the order is ABBA, with
    more it rotates each round and reverses every other one, so no arm has a fixed place."""
    names = list(arms)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        shift = (round_index // 2) % len(names) if len(names) > 2 else 0  # two arms: plain ABBA
        order = names[shift:] + names[:shift]
        if round_index % 2:
            order.reverse()
        for name in order:
            rates[name].append(timed_steps(arms[name], actions, args.seed))
    return rates


def report(rates: dict[str, list[float]]) -> None:
    raw_rates = rates["raw NetHackScore"]
    for name, values in rates.items():
        print(f"{name:<18} steps/s: median {statistics.median(values):9.0f}  {[round(r) for r in values]}")
    for name, values in rates.items():
        if name == "raw NetHackScore":
            continue
        ratios = [w / r for w, r in zip(values, raw_rates, strict=True)]
        target = "  (target >= 0.95)" if name == "OniRewardWrapper" else ""
        print(f"ratio {name}/raw: median {statistics.median(ratios):.3f}  per round "
              f"{[round(x, 3) for x in ratios]}{target}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--table", type=int, default=0, help="a table of this many rows, and a delta every second")
    p.add_argument("--no-server", action="store_true",
                   help="the wrapper with no client and no server: its own step cost alone")
    args = p.parse_args()

    print(interpreter(), flush=True)
    actions = np.random.default_rng(args.seed).integers(0, 23, size=args.steps)
    if args.no_server:
        raw = gym.make("NetHackScore-v0")
        wrapped = OniRewardWrapper(raw, server=None)
        timed_steps(wrapped, actions, args.seed)
        report(abba(arms(raw, wrapped), actions, args))
        return
    with ExitStack() as stack:
        if args.table:
            store = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "big.sqlite"
            make_labelled_store(store, args.table, NO_LLM)
            url = stack.enter_context(running_server(*NO_LLM, store=str(store), start_timeout=1800))
        else:
            url = stack.enter_context(running_server())
        # One NLE instance under every arm: separate instances differ in speed by up to ~10% on
        # their own (each loads its own copy of the game library), which would swamp the
        # wrapper's cost. "raw" steps the instance directly, "wrapped" steps it through ONI.
        raw = gym.make("NetHackScore-v0")
        wrapped = OniRewardWrapper(raw, server=url, sync_interval=1.0)
        # Warm-up: let the server see and label this trajectory's messages first.
        timed_steps(wrapped, actions, args.seed)
        wrapped.client.flush(timeout=600)
        if not args.table:
            wait_until_labelled(url)
        wrapped.client.flush(timeout=600)
        warm_version = wrapped.client.version
        spawn = multiprocessing.get_context("spawn")
        stop = spawn.Event()
        feeder = spawn.Process(target=feed, args=(url, stop, args.table + 10**7)) if args.table else None
        if feeder is not None:
            feeder.start()
        rates = abba(arms(raw, wrapped), actions, args)
        stop.set()
        if feeder is not None:
            feeder.join()
        print(f"table size {len(wrapped.client.table)}, version {wrapped.client.version} "
              f"(warm-up ended at v{warm_version}), "
              f"client syncs {wrapped.client.stats.syncs}, errors {wrapped.client.stats.errors}")
        wrapped.client.close()
    report(rates)


def arms(raw: gym.Env, wrapped: gym.Env) -> dict[str, gym.Env]:
    return {"raw NetHackScore": raw, "PassThrough": PassThrough(raw), "OniRewardWrapper": wrapped}


if __name__ == "__main__":
    main()
