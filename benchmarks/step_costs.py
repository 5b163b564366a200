"""Where a training frame's CPU time goes, each part beside what it replaced, in one process.

Three parts of ``examples/torchrl_nethack.py``'s work per frame, one thread each (as a worker or
the async learner runs on a 2-core machine), every pair timed side by side in alternating rounds:

* **env step** (random actions): a worker's envs as TorchRL's ``SerialEnv`` of ``GymWrapper``
  envs (before) vs ``NetHackBatch`` (now), at 4, 8 and 16 envs; NetHack alone for scale;
* **acting**: the TorchRL policy modules (``ActorCritic.policy``) vs ``ActingStep``
  (``ActorCritic.acting``, what collectors run), for a worker's 4 envs, and the encoder alone;
* **PPO update** of one 512-frame batch (2 epochs × 2 minibatches): glyph/message embeddings
  through ``nn.Embedding`` (before) vs ``index_select`` (``oni_rl.encoder.lookup``, now).

    python -m benchmarks.step_costs
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch
from torchrl.collectors import Collector
from torchrl.envs import SerialEnv

import oni_rl.encoder as encoder_module
from oni_rl.envs import EnvFactory
from oni_rl.policy import build_actor_critic
from oni_rl.ppo import PPOConfig, add_advantages, make_loss, ppo_update
from oni_rl.tasks import EXTENDED_ACTIONS, make_task
from oni_rl.train import as_sequences

FACTORY = EnvFactory(task="NetHackScore-v0", server=None, max_episode_steps=1000)


def side_by_side(arms: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """Median seconds per call of each arm, the arms alternating in ABBA order."""
    times: dict[str, list[float]] = {name: [] for name in arms}
    names = list(arms)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(arms[name]())
    return {name: statistics.median(values) for name, values in times.items()}


def nethack_alone(steps: int) -> float:
    env = make_task("NetHackScore-v0", max_episode_steps=1000)
    env.reset(seed=0)
    started = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    env.close()
    return (time.perf_counter() - started) / steps


def env_step_costs(rounds: int) -> None:
    print(f"NetHack alone: {nethack_alone(3000) * 1e6:.0f} us a step")
    for envs in (4, 8, 16):
        serial, batched = SerialEnv(envs, FACTORY), FACTORY.batched(envs)
        steps = max(50, 1200 // envs)

        def per_frame(env, steps=steps, envs=envs):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            env.rollout(steps, break_when_any_done=False)
            return (time.perf_counter() - started) / (steps * envs)

        for env in (serial, batched):
            env.rollout(5, break_when_any_done=False)  # warm
        t = side_by_side({"serial": partial(per_frame, serial), "batched": partial(per_frame, batched)}, rounds)
        print(f"env step, {envs:2d} envs: SerialEnv {t['serial'] * 1e6:5.0f} us/frame, NetHackBatch "
              f"{t['batched'] * 1e6:4.0f} us/frame, ratio {t['serial'] / t['batched']:.2f}x", flush=True)
        serial.close()
        batched.close()


def collected_batch(rows: int) -> tuple[torch.Tensor, object]:
    model = build_actor_critic(len(EXTENDED_ACTIONS))
    collector = Collector(FACTORY.batched(rows), policy=model.acting, frames_per_batch=rows * 64, total_frames=-1)
    batches = iter(collector)
    next(batches)
    data = as_sequences(next(batches)).clone()  # [rows, 64]
    collector.shutdown()
    return data, model


def acting_costs(data, model, rounds: int) -> None:  # type: ignore[no-untyped-def]
    keys = ["glyphs", "blstats", "message", "is_init", "recurrent_state_h", "recurrent_state_c"]
    step = data[:4, 0].select(*keys).contiguous()  # as an env hands it to the policy

    def call(module, n=50):  # type: ignore[no-untyped-def]
        with torch.no_grad():
            started = time.perf_counter()
            for _ in range(n):
                module(step.clone())
            return (time.perf_counter() - started) / n

    encoder = model.modules["encoder"]

    def encode(n=50):  # type: ignore[no-untyped-def]
        with torch.no_grad():
            started = time.perf_counter()
            for _ in range(n):
                encoder(step["glyphs"], step["blstats"], step["message"])
            return (time.perf_counter() - started) / n

    call(model.policy, 5)  # warm
    call(model.acting, 5)
    t = side_by_side({"policy": lambda: call(model.policy), "acting": lambda: call(model.acting),
                      "encoder": encode}, rounds)
    print(f"acting for 4 envs: TorchRL modules {t['policy'] * 1e3:.2f} ms, ActingStep {t['acting'] * 1e3:.2f} ms, "
          f"ratio {t['policy'] / t['acting']:.2f}x (the encoder alone: {t['encoder'] * 1e3:.2f} ms)", flush=True)


def update_costs(data, model, rounds: int) -> None:  # type: ignore[no-untyped-def]
    config = PPOConfig()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4, eps=1e-5)
    loss = make_loss(model, config)
    add_advantages(data, model, config)
    index_select = encoder_module.lookup

    def update(lookup) -> float:  # type: ignore[no-untyped-def]
        encoder_module.lookup = lookup
        started = time.perf_counter()
        ppo_update(data, model, loss, optimizer, config)
        encoder_module.lookup = index_select
        return time.perf_counter() - started

    def embedding(table, indices):  # type: ignore[no-untyped-def]
        return table(indices)

    update(index_select)  # warm
    t = side_by_side({"embedding": lambda: update(embedding), "index_select": lambda: update(index_select)}, rounds)
    print(f"PPO update, {data.numel()} frames: nn.Embedding {t['embedding'] * 1e3:.0f} ms, index_select "
          f"{t['index_select'] * 1e3:.0f} ms, ratio {t['embedding'] / t['index_select']:.2f}x", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=6)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    env_step_costs(args.rounds)
    data, model = collected_batch(rows=8)
    acting_costs(data, model, args.rounds)
    update_costs(data, model, args.rounds)


if __name__ == "__main__":
    main()
