"""Training frames/s: ``oni_rl`` (TorchRL PPO) ÷ Sample Factory APPO, same machine, env, network and sizes.

Both train on ``NetHackScore-v0`` with the extended action set, the same ``NetHackEncoder``,
an LSTM of 256, ``--workers`` processes × ``--envs-per-worker`` envs, 64-step rollouts and
512-frame batches seen in 2 epochs × 2 minibatches; extrinsic reward only (``--reward none``:
this is the trainers' speed, ONI's own cost is ``benchmarks.training_overhead``). Runs go one
after another, never at the same time, in ABBA order over the arms. Every mode of ours runs:

* ``batched-sync``: all envs in one ParallelEnv, one batched policy in the learner's process;
  collect, then update (on-policy PPO);
* ``batched-async``: the same envs and policy in one collector process that collects the next
  batch while the learner updates (APPO-style, one update stale at most);
* ``per-worker-sync`` / ``per-worker-async``: each collector worker runs its own policy on its
  own envs (what ``--collection auto`` picks without a GPU).

Sample Factory runs in its own virtual environment (see ``benchmarks/sample_factory_nethack.py``).
Its rate is read from its own log: frames between its first report with frames and its last,
over the time between them (start-up, the first rollouts and shutdown left out). Ours is measured
the same way, ``TrainResult.steady_frames_per_second``: frames after the first batch over the
time from its arrival to the end of the last update; the ratios use it. The whole-run rate
(``frames_per_second``: from the first collection on, first batch included) is printed beside
it. ``--sweep`` runs every arm once at 4, 8, 16 and 32 envs (2 workers) instead.

    python -m benchmarks.throughput_vs_sample_factory --sf-python /tmp/sfvenv/bin/python --frames 16384 --rounds 1
    python -m benchmarks.throughput_vs_sample_factory --sf-python /tmp/sfvenv/bin/python --frames 16384 --sweep
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


SAMPLE_FACTORY_SCRIPT = Path(__file__).with_name("sample_factory_nethack.py")


def run_sample_factory(args: argparse.Namespace, tmp: Path, tag: str, script: Path = SAMPLE_FACTORY_SCRIPT,
                       extra: tuple[str, ...] = (), name: str = "sample-factory") -> float:
    """One Sample Factory run of ``script`` in its own environment; its steady frames/s from its log."""
    cmd = [args.sf_python, str(script), f"--num_workers={args.workers}",
           f"--num_envs_per_worker={args.envs_per_worker}", f"--train_for_env_steps={args.frames}",
           f"--experiment={tag}", f"--train_dir={tmp}", f"--max_episode_steps={args.max_episode_steps}",
           f"--seed={args.seed}", *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    fps = sample_factory_fps(done.stdout + done.stderr)
    print(f"  {tag:<10} {name} {fps:7.1f} frames/s", flush=True)
    return fps


MODES = ("batched-sync", "batched-async", "per-worker-sync", "per-worker-async")


def run_ours(args: argparse.Namespace, tmp: Path, tag: str, mode: str) -> float:
    collection, timing = mode.rsplit("-", 1)
    result = train(TrainConfig(
        collection=collection, async_collection=timing == "async",  # type: ignore[arg-type]
        task="NetHackScore-v0", reward="none", frames=args.frames, seed=args.seed, workers=args.workers,
        envs_per_worker=args.envs_per_worker, rollout=64, run_dir=tmp / tag, checkpoint_every=10**9,
        max_episode_steps=args.max_episode_steps, progress=False,
    ))
    print(f"  {tag:<10} oni_rl {mode:<17} {result.steady_frames_per_second:7.1f} frames/s "
          f"(whole run {result.frames_per_second:.1f}; {result.collect_seconds / result.seconds:.0%} "
          "waiting for batches)", flush=True)
    return result.steady_frames_per_second


def run_arm(args: argparse.Namespace, tmp: Path, tag: str, arm: str) -> float:
    return run_sample_factory(args, tmp, tag) if arm == "sf" else run_ours(args, tmp, tag, arm)


def compare(args: argparse.Namespace, tmp: Path) -> None:
    arms = ("sf", *args.modes)
    fps: dict[str, list[float]] = {arm: [] for arm in arms}
    print(f"NetHackScore-v0, {args.workers} workers x {args.envs_per_worker} envs, {args.frames} frames a run")
    for r in range(args.rounds):
        order = arms + arms[::-1]
        for i, arm in enumerate(order if r % 2 == 0 else order[::-1]):
            fps[arm].append(run_arm(args, tmp, f"r{r + 1}.{i + 1}", arm))
    sf = statistics.mean(fps["sf"])
    print(f"\n| trainer | frames/s (mean of {len(fps['sf'])}) | runs | ratio to Sample Factory |")
    print("| --- | --- | --- | --- |")
    for arm in arms:
        mean = statistics.mean(fps[arm])
        name = "Sample Factory APPO" if arm == "sf" else f"oni_rl {arm}"
        print(f"| {name} | {mean:.1f} | {', '.join(f'{v:.0f}' for v in fps[arm])} | {mean / sf:.3f} |")


def sweep(args: argparse.Namespace, tmp: Path) -> None:
    arms = ("sf", *args.modes)
    table: dict[int, dict[str, float]] = {}
    for total in (4, 8, 16, 32):
        args.envs_per_worker = total // args.workers
        print(f"{total} envs ({args.workers} workers x {args.envs_per_worker})", flush=True)
        order = arms if total % 8 else arms[::-1]
        table[total] = {arm: run_arm(args, tmp, f"e{total}.{i + 1}", arm) for i, arm in enumerate(order)}
    print("\n| envs | " + " | ".join("Sample Factory" if a == "sf" else a for a in arms) + " | best of ours ÷ SF |")
    print("| --- | " + " | ".join("---" for _ in arms) + " | --- |")
    for total, row in table.items():
        best = max(row[a] for a in args.modes)
        print(f"| {total} | " + " | ".join(f"{row[a]:.0f}" for a in arms) + f" | {best / row['sf']:.2f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sf-python", required=True, help="python of the virtual environment with sample-factory")
    p.add_argument("--frames", type=int, default=16384)
    p.add_argument("--rounds", type=int, default=1, help="ABBA rounds")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--envs-per-worker", type=int, default=4)
    p.add_argument("--max-episode-steps", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    p.add_argument("--sweep", action="store_true", help="every arm once at 4, 8, 16 and 32 envs")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        (sweep if args.sweep else compare)(args, Path(tmp_name))


if __name__ == "__main__":
    main()
