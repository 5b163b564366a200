"""Pool the per-round ratios of several ``wrapper_overhead`` runs into one estimate with an interval.

One run's median moves by about a point from run to run on this machine (its 20 rounds share
the machine's mood of those minutes), which is as large as what is being decided (≥ 0.95).
Pooling runs, and bootstrapping over runs *and* rounds (a run is resampled as a whole first,
then its rounds), gives an interval that includes the run-to-run drift, not only the
round-to-round one.

    python -m benchmarks.pool_ratios \\
        pyenv='benchmarks/results/wrapper_overhead/stop23_pyenv_*.txt' \\
        debian='benchmarks/results/wrapper_overhead/stop23_debian_*.txt'

Each argument is ``LABEL=GLOB[,GLOB...]`` (quote the globs); ``--arm`` picks the ratio line
(default ``OniRewardWrapper/raw``).
"""

from __future__ import annotations

import argparse
import ast
import glob
import re
import statistics

import numpy as np


def round_ratios(path: str, arm: str) -> list[float]:
    """The per-round ratios a ``wrapper_overhead`` output file prints for ``ratio <arm>: ...``."""
    pattern = re.compile(rf"^ratio {re.escape(arm)}: median [0-9.]+\s+per round (\[[^\]]*\])")
    with open(path) as f:
        for line in f:
            match = pattern.match(line)
            if match:
                return [float(x) for x in ast.literal_eval(match.group(1))]
    raise ValueError(f"{path} has no 'ratio {arm}:' line")


def bootstrap_median(runs: list[list[float]], rng: np.random.Generator, reps: int = 4000) -> tuple[float, float]:
    """95% interval of the pooled median, resampling runs, then rounds within each drawn run."""
    medians = np.empty(reps)
    for i in range(reps):
        drawn = [runs[j] for j in rng.integers(0, len(runs), size=len(runs))]
        pooled = np.concatenate([rng.choice(run, size=len(run)) for run in drawn])
        medians[i] = np.median(pooled)
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("groups", nargs="+", metavar="LABEL=GLOB[,GLOB...]")
    p.add_argument("--arm", default="OniRewardWrapper/raw")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    for group in args.groups:
        label, _, patterns = group.partition("=")
        paths = sorted({path for pattern in patterns.split(",") for path in glob.glob(pattern)})
        if not paths:
            raise SystemExit(f"{label}: no file matches {patterns!r}")
        runs = [round_ratios(path, args.arm) for path in paths]
        per_run = ", ".join(f"{statistics.median(run):.3f}" for run in runs)
        pooled = statistics.median([x for run in runs for x in run])
        low, high = bootstrap_median(runs, rng)
        print(f"{label}: {len(runs)} runs, {sum(map(len, runs))} rounds; run medians {per_run}; "
              f"pooled median {pooled:.3f} (95% interval {low:.3f} - {high:.3f})")


if __name__ == "__main__":
    main()
