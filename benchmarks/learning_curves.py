"""Learning: ONI (any reward model) vs extrinsic-only PPO, same task, frames and seeds; table + PNG.

Each (arm, seed) is one ``oni_rl.train`` run with its own run folder under ``--out``. Reported
per arm: mean ± std over seeds of the in-game score, task return and success rate over the
episodes that ended in the last ``--tail`` share of the frames, and one plot of all curves.
Runs already finished in ``--out`` (``episodes.csv`` + a checkpoint at the frame budget) are
read back, not redone, so a long comparison can be built up over several sessions.

Reward-free Score is ``--extrinsic-coef 0`` (the task reward is then only measured, not trained
on: the extrinsic-only arm learns nothing by design, as in the paper's reward-free setting).
Annotations made elsewhere travel as a store: ``python -m reward_server export`` there,
``import`` into ``--store`` here, and every ONI run starts from those labels.

    python -m benchmarks.learning_curves --task NetHackScore-v0 --frames 50000 --seeds 0 1 \\
        --arms none retrieval --extrinsic-coef 0 --out runs/bench_rewardfree
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from benchmarks.aggregate import difference_interval, iqm_interval, plot_iqm_curves
from oni_rl.logbook import Episode, plot_runs, read_episodes
from oni_rl.train import TrainConfig, train


def finished(run_dir: Path, frames: int) -> bool:
    checkpoint = run_dir / "checkpoint.pt"
    return checkpoint.exists() and torch.load(checkpoint, weights_only=True)["frames"] >= frames


def tail_mean(episodes: list[Episode], name: str, frames: int, tail: float) -> float | None:
    values = [getattr(e, name) for e in episodes if e.frames >= (1 - tail) * frames]
    return statistics.mean(values) if values else None


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="NetHackScore-v0")
    p.add_argument("--frames", type=int, default=50_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--arms", nargs="+", default=["none", "retrieval"],
                   choices=["none", "retrieval", "classification", "ranking"])
    p.add_argument("--extrinsic-coef", type=float, help="default: 0.1 on Score, 10 on the sparse tasks")
    p.add_argument("--intrinsic-coef", type=float, default=0.4)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--envs-per-worker", type=int, default=4)
    p.add_argument("--max-episode-steps", type=int, default=5000)
    p.add_argument("--store", type=Path, help="one store for every ONI run (e.g. imported labels)")
    p.add_argument("--reward-server", help="URL of a running server for the ONI arms")
    p.add_argument("--tail", type=float, default=0.2, help="share of the frames at the end that is reported")
    p.add_argument("--out", type=Path, default=Path("runs/learning_curves"))
    args = p.parse_args()

    runs: dict[str, list[list[Episode]]] = {}
    for arm in args.arms:
        runs[arm] = []
        for seed in args.seeds:
            run_dir = args.out / f"{arm}-seed{seed}"
            if not finished(run_dir, args.frames):
                config = TrainConfig(
                    task=args.task, reward=arm, frames=args.frames, seed=seed, workers=args.workers,
                    envs_per_worker=args.envs_per_worker, run_dir=run_dir, resume=True,
                    extrinsic_coef=args.extrinsic_coef, intrinsic_coef=args.intrinsic_coef,
                    max_episode_steps=args.max_episode_steps, store=args.store,
                    reward_server=args.reward_server,
                )
                result = train(config)
                print(f"{arm} seed {seed}: {result.frames} frames at {result.frames_per_second:.0f} frames/s", flush=True)
            runs[arm].append(read_episodes(run_dir / "episodes.csv") if (run_dir / "episodes.csv").exists() else [])

    print(f"\n{args.task}, {args.frames:,} frames, seeds {args.seeds}, extrinsic coef {args.extrinsic_coef}, "
          f"last {args.tail:.0%} of frames")
    print("| arm | episodes | in-game score | task return | success rate | intrinsic return |")
    print("| --- | --- | --- | --- | --- | --- |")
    for arm, seeds in runs.items():
        cells = []
        for name in ("score", "extrinsic_return", "success", "intrinsic_return"):
            values = [v for eps in seeds if (v := tail_mean(eps, name, args.frames, args.tail)) is not None]
            cells.append(spread(values))
        print(f"| {arm} | {sum(len(e) for e in seeds)} | " + " | ".join(cells) + " |")
    plot = plot_runs(runs, args.out / "learning_curves.png",
                     f"{args.task}, extrinsic coef {args.extrinsic_coef}, {len(args.seeds)} seeds")
    print(f"plot: {plot}")
    if len(args.seeds) >= 3:
        report_iqm(runs, args)


def report_iqm(runs: dict[str, list[list[Episode]]], args: argparse.Namespace) -> None:
    """IQM over seeds with 95% bootstrap intervals, each arm against the first, and the IQM curves."""
    print(f"\nIQM over {len(args.seeds)} seeds [95% bootstrap CI], episodes ending in the last {args.tail:.0%}:")
    print("| arm | in-game score | task return | intrinsic return |")
    print("| --- | --- | --- | --- |")
    finals: dict[str, dict[str, list[float]]] = {}
    for arm, seeds in runs.items():
        finals[arm] = {name: [v for eps in seeds if (v := tail_mean(eps, name, args.frames, args.tail)) is not None]
                       for name in ("score", "extrinsic_return", "intrinsic_return")}
        print(f"| {arm} | " + " | ".join(str(iqm_interval(values)) for values in finals[arm].values()) + " |")
    baseline = next(iter(finals))
    for arm in list(finals)[1:]:
        for name in ("score", "extrinsic_return"):
            delta = difference_interval(finals[arm][name], finals[baseline][name])
            verdict = "above 0" if delta.low > 0 else "below 0" if delta.high < 0 else "includes 0"
            print(f"{arm} − {baseline}, {name}: IQM difference {delta} ({verdict})")
    plot = plot_iqm_curves(runs, args.frames, args.out / "learning_curves_iqm.png",
                           f"{args.task}, extrinsic coef {args.extrinsic_coef}, IQM over {len(args.seeds)} seeds")
    print(f"IQM plot: {plot}")


if __name__ == "__main__":
    main()
