"""Did a change slow training down? The README's main command at two commits, side by side.

Each commit is checked out into its own ``git worktree`` and its ``examples/torchrl_nethack.py``
runs in a fresh interpreter with that worktree first on ``PYTHONPATH`` (so its ``oni_wrappers``,
``reward_server`` and ``oni_rl`` are imported, not the editable install's), a fresh run folder and
store, and the same seed and frame budget. Runs alternate ABBA so both commits see the same
machine noise (these machines drift by 5-10% within an hour); the ratio of median frames/s is
printed, with every run's frames/s so the spread shows.

Both arms use this checkout's virtual environment: a change of dependencies between the commits is
not measured.

    python -m benchmarks.commit_ab --base 099eb17 --frames 60000 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRAINED_LINE = re.compile(r"trained ([\d,]+) frames in (\d+) s \((\d+) frames/s")


def add_worktree(revision: str, where: Path) -> Path:
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(where), revision],
                   check=True, capture_output=True)
    return where


def train_once(worktree: Path, frames: int, seed: int, run_dir: Path, extra: list[str]) -> tuple[float, str]:
    """One run of the main command at ``worktree``: its frames/s as it prints it, and what else it did
    (the judge's work in the run's store, the time spent waiting for batches)."""
    command = [sys.executable, "examples/torchrl_nethack.py", "--frames", str(frames), "--seed", str(seed),
               "--run-dir", str(run_dir), "--quiet", *extra]
    env = {**os.environ, "PYTHONPATH": str(worktree)}
    done = subprocess.run(command, cwd=worktree, env=env, capture_output=True, text=True, check=False)
    match = TRAINED_LINE.search(done.stdout)
    if done.returncode != 0 or match is None:
        sys.exit(f"{worktree.name}: the run failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    waiting = re.search(r"(\d+)% of the time waiting for batches", done.stdout)
    return float(match.group(3)), f"{store_counts(run_dir / 'oni.sqlite')}, {waiting.group(1) if waiting else '?'}% waiting"


def store_counts(store: Path) -> str:
    if not store.exists():
        return "no store"
    with sqlite3.connect(store) as db:
        messages = db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        answers = db.execute("SELECT COUNT(*) FROM annotations").fetchone()[0]
    return f"{messages} messages seen, {answers} answers"


def check_imports_from(worktree: Path) -> None:
    """Fail early if the editable install would shadow the worktree's packages."""
    probe = "import oni_wrappers, reward_server, oni_rl; print(oni_wrappers.__file__, reward_server.__file__, oni_rl.__file__)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=worktree, env={**os.environ, "PYTHONPATH": str(worktree)},
                         capture_output=True, text=True, check=True).stdout.split()
    if not all(path.startswith(str(worktree)) for path in out):
        sys.exit(f"imports do not come from {worktree}: {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the commit to compare against (A)")
    parser.add_argument("--head", default="HEAD", help="the commit under test (B)")
    parser.add_argument("--frames", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds (4 runs each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="more options for the main command, after --")
    args = parser.parse_args()
    extra = [option for option in args.extra if option != "--"]

    with tempfile.TemporaryDirectory(prefix="oni_commit_ab_") as tmp_name:
        tmp = Path(tmp_name)
        trees = {"A": add_worktree(args.base, tmp / "A"), "B": add_worktree(args.head, tmp / "B")}
        try:
            for tree in trees.values():
                check_imports_from(tree)
            rates: dict[str, list[float]] = {"A": [], "B": []}
            print(f"A = {args.base}, B = {args.head}: {args.frames:,} frames per run, {args.rounds} ABBA rounds", flush=True)
            for round_index in range(args.rounds):
                for position, arm in enumerate("ABBA"):
                    run_dir = tmp / f"run_{round_index}_{position}_{arm}"
                    rate, work = train_once(trees[arm], args.frames, args.seed, run_dir, extra)
                    rates[arm].append(rate)
                    print(f"  round {round_index} {arm}: {rate:.0f} frames/s ({work})", flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
    base, head = statistics.median(rates["A"]), statistics.median(rates["B"])
    print(f"median frames/s: A {base:.0f}, B {head:.0f}; B/A = {head / base:.3f} "
          f"(A runs {[round(r) for r in rates['A']]}, B runs {[round(r) for r in rates['B']]})")


if __name__ == "__main__":
    main()
