"""ONI's cost inside training: frames/s of PPO with ``--reward retrieval`` ÷ frames/s with ``--reward none``.

Same process, same training loop (``oni_rl.train``), same seeds and sizes, runs interleaved
ABBA (none, retrieval, retrieval, none, ...) so both arms see the same machine noise. Both arms
step the same wrapper (``none`` has an empty table and no server), so the ratio is what the
reward adds: the client threads in the workers, the server, and the LLM labelling new messages —
and, unless ``--learner-threads`` sets both, one torch thread fewer for the learner beside a
local server (the trainer leaves a core to its LLM; see ``oni_rl.train.learner_threads``).

The retrieval arm talks to a reward server in its own process (as in a real deployment).
First one unmeasured-for-the-ratio "cold" run fills its store: the embedded LLM labels what
the agent sees while it trains. Its frames/s is printed too: on a 2-core machine the LLM takes
CPU from the envs and the learner, which a GPU-served LLM on another host would not.
Target: warm ratio ≥ 0.9.

    python -m benchmarks.training_overhead --frames 4096 --rounds 2

With ``--server-args`` naming an LLM that never answers, the retrieval arm pays the client, the
server and the table but no labelling, which splits ONI's cost between the two (docs/results.md):

    python -m benchmarks.training_overhead --frames 16384 --rounds 2 --server-args \
        "--llm hosted_vllm/none --api-base http://127.0.0.1:9/v1 --no-preflight --calibration fixed --llm-retries 0"
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import tempfile
from pathlib import Path

from benchmarks.common import running_server
from oni_rl.train import TrainConfig, train


def run(reward: str, frames: int, args: argparse.Namespace, tmp: Path, tag: str, server: str | None) -> float:
    config = TrainConfig(
        task=args.task, reward=reward, frames=frames, seed=args.seed, workers=args.workers,
        envs_per_worker=args.envs_per_worker, rollout=args.rollout, run_dir=tmp / tag, reward_server=server,
        max_episode_steps=args.max_episode_steps, checkpoint_every=10**9, progress=False,
        learner_threads=args.learner_threads,
    )
    result = train(config)
    print(f"  {tag:<16} {reward:<10} {result.frames_per_second:7.1f} frames/s "
          f"({result.frames} frames, {result.seconds:.1f} s, intrinsic on {result.intrinsic_steps} steps)", flush=True)
    return result.frames_per_second


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="NetHackScore-v0")
    p.add_argument("--frames", type=int, default=4096)
    p.add_argument("--rounds", type=int, default=2, help="ABBA rounds")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--envs-per-worker", type=int, default=4)
    p.add_argument("--rollout", type=int, default=64)
    p.add_argument("--max-episode-steps", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--learner-threads", type=int, default=None,
                   help="the learner's torch threads in both arms (default: the trainer's choice, which "
                        "leaves a core to a local reward server's LLM, so the arms then differ in threads)")
    p.add_argument("--server-args", default="", type=shlex.split,
                   help="extra reward_server arguments in one string, e.g. \"--llm MODEL --api-base URL\"")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name, running_server(*args.server_args) as server:
        tmp = Path(tmp_name)
        print(f"{args.task}, {args.workers} workers x {args.envs_per_worker} envs, {args.frames} frames a run")
        cold = run("retrieval", args.frames, args, tmp, "cold store", server)
        fps: dict[str, list[float]] = {"none": [], "retrieval": []}
        for r in range(args.rounds):
            order = ("none", "retrieval", "retrieval", "none") if r % 2 == 0 else ("retrieval", "none", "none", "retrieval")
            for i, reward in enumerate(order):
                fps[reward].append(run(reward, args.frames, args, tmp, f"round {r + 1}.{i + 1}",
                                       server if reward != "none" else None))
        none, warm = statistics.mean(fps["none"]), statistics.mean(fps["retrieval"])
        print(f"none:      {none:.1f} frames/s (runs: {', '.join(f'{v:.0f}' for v in fps['none'])})")
        print(f"retrieval: {warm:.1f} frames/s (runs: {', '.join(f'{v:.0f}' for v in fps['retrieval'])})")
        print(f"ratio retrieval/none, warm store: {warm / none:.3f}  (target >= 0.9)")
        print(f"ratio retrieval/none, cold store (LLM labelling on the same CPU): {cold / none:.3f}")


if __name__ == "__main__":
    main()
