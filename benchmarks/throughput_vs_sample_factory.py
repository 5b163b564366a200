"""Training frames/s: ``oni_rl`` (TorchRL PPO) ÷ Sample Factory APPO, same machine, env, network and sizes.

Both train on ``NetHackScore-v0`` with the extended action set, the same ``NetHackEncoder``,
an LSTM of 256, ``--workers`` processes × ``--envs-per-worker`` envs, 64-step rollouts and
512-frame batches seen in 2 epochs × 2 minibatches; extrinsic reward only (``--reward none``:
this is the trainers' speed, ONI's own cost is ``benchmarks.training_overhead``). The two run
one after the other, never at the same time, in the order SF, sync, async, async, sync, SF.
Ours runs twice: ``sync`` (collect, then update: on-policy PPO) and ``async``
(``--async-collection``: workers keep collecting during updates, as Sample Factory's APPO does).

Sample Factory runs in its own virtual environment (see ``benchmarks/sample_factory_nethack.py``).
Its rate is read from its own log: frames between its first report with frames and its last,
over the time between them. Ours is ``TrainResult.frames_per_second``, which starts its clock
before the first batch is collected (so it includes the first batch's env resets: a small bias
against ours). Target: ratio ≥ 0.5.

    python -m benchmarks.throughput_vs_sample_factory --sf-python /tmp/sfvenv/bin/python --frames 16384
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

from oni_rl.train import TrainConfig, train

REPORT = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\].*Fps is .*Total num frames: (\d+)\.")


def sample_factory_fps(log: str) -> float:
    points = [(datetime.strptime(t, "%Y-%m-%d %H:%M:%S,%f"), int(n)) for t, n in REPORT.findall(log)]
    points = [p for p in points if p[1] > 0]
    if len(points) < 2:
        raise RuntimeError("Sample Factory reported fewer than two frame counts; its log:\n" + log[-3000:])
    (t0, n0), (t1, n1) = points[0], points[-1]
    return (n1 - n0) / (t1 - t0).total_seconds()


def run_sample_factory(args: argparse.Namespace, tmp: Path, tag: str) -> float:
    script = Path(__file__).with_name("sample_factory_nethack.py")
    cmd = [args.sf_python, str(script), f"--num_workers={args.workers}",
           f"--num_envs_per_worker={args.envs_per_worker}", f"--train_for_env_steps={args.frames}",
           f"--experiment={tag}", f"--train_dir={tmp}", f"--max_episode_steps={args.max_episode_steps}",
           f"--seed={args.seed}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Sample Factory failed ({done.returncode}):\n{done.stderr[-3000:]}")
    fps = sample_factory_fps(done.stdout + done.stderr)
    print(f"  {tag:<10} sample-factory {fps:7.1f} frames/s", flush=True)
    return fps


def run_ours(args: argparse.Namespace, tmp: Path, tag: str, async_collection: bool) -> float:
    result = train(TrainConfig(
        async_collection=async_collection,
        task="NetHackScore-v0", reward="none", frames=args.frames, seed=args.seed, workers=args.workers,
        envs_per_worker=args.envs_per_worker, rollout=64, run_dir=tmp / tag, checkpoint_every=10**9,
        max_episode_steps=args.max_episode_steps, progress=False,
    ))
    mode = "async" if async_collection else "sync"
    print(f"  {tag:<10} oni_rl {mode:<7} {result.frames_per_second:7.1f} frames/s", flush=True)
    return result.frames_per_second


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sf-python", required=True, help="python of the virtual environment with sample-factory")
    p.add_argument("--frames", type=int, default=16384)
    p.add_argument("--rounds", type=int, default=1, help="ABBA rounds")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--envs-per-worker", type=int, default=4)
    p.add_argument("--max-episode-steps", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    fps: dict[str, list[float]] = {"sf": [], "sync": [], "async": []}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print(f"NetHackScore-v0, {args.workers} workers x {args.envs_per_worker} envs, {args.frames} frames a run")
        for r in range(args.rounds):
            order = ("sf", "sync", "async", "async", "sync", "sf")
            for i, arm in enumerate(order if r % 2 == 0 else order[::-1]):
                tag = f"r{r + 1}.{i + 1}"
                fps[arm].append(run_sample_factory(args, tmp, tag) if arm == "sf"
                                else run_ours(args, tmp, tag, async_collection=arm == "async"))
    sf = statistics.mean(fps["sf"])
    print(f"sample-factory: {sf:.1f} frames/s (runs: {', '.join(f'{v:.0f}' for v in fps['sf'])})")
    for mode in ("sync", "async"):
        ours = statistics.mean(fps[mode])
        print(f"oni_rl {mode:<7} {ours:.1f} frames/s (runs: {', '.join(f'{v:.0f}' for v in fps[mode])}); "
              f"ratio to sample-factory {ours / sf:.3f}  (target >= 0.5)")


if __name__ == "__main__":
    main()
