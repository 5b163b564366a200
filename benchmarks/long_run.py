"""A long training run holds: the README's main command for a million frames, watched.

Runs ``examples/torchrl_nethack.py --frames N`` (Score, ONI-retrieval, the in-process reward
server with the embedded LLM) and samples every ``--every`` seconds the resident memory of every
process of the run (the trainer with its server, the env workers) and the store's size on disk,
and, from ``episodes.csv``, how many frames were trained by then. Writes the samples as CSV and
a plot of all three, and prints frames/s over the first and the last tenth of the frames
(target: last ≥ 0.9× first) and whether memory grew beyond the first tenth's (a leak).

    python -m benchmarks.long_run --frames 1000000 --out benchmarks/results/long_run_1m
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc, Linux)."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
            children.setdefault(int(fields["PPid"]), []).append(int(fields["Pid"]))
        except (OSError, KeyError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def frames_done(run_dir: Path) -> int:
    """Frames at the last finished episode (episodes.csv is the run's own record)."""
    path = run_dir / "episodes.csv"
    if not path.exists():
        return 0
    last = path.read_text().rstrip().splitlines()[-1].split(",")[0]
    return int(last) if last.isdigit() else 0


def store_mb(run_dir: Path) -> float:
    return sum(p.stat().st_size for p in run_dir.glob("oni.sqlite*")) / 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=1_000_000)
    p.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/long_run"))
    p.add_argument("--run-dir", type=Path, default=Path("runs/long_run"))
    p.add_argument("--report-only", action="store_true", help="redo the report from OUT/samples.csv")
    p.add_argument("train_args", nargs="*", help="more options for examples/torchrl_nethack.py, after --")
    args = p.parse_args()
    if args.report_only:
        with (args.out / "samples.csv").open() as handle:
            report([{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)], args.frames, args.out)
        return
    if args.run_dir.exists():
        p.error(f"{args.run_dir} exists: the run would go to a new folder this script does not watch")
    args.out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "examples/torchrl_nethack.py", "--frames", str(args.frames), "--run-dir",
           str(args.run_dir), "--quiet", *args.train_args]
    started = time.monotonic()
    samples: list[dict[str, float]] = []
    with (args.out / "train.log").open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            time.sleep(args.every)
            pids = descendants(proc.pid)
            rss = [rss_mb(pid) for pid in pids]
            samples.append({"seconds": time.monotonic() - started, "frames": frames_done(args.run_dir),
                            "rss_main_mb": rss[0], "rss_children_mb": sum(rss[1:]), "processes": len(pids),
                            "store_mb": store_mb(args.run_dir)})
    with (args.out / "samples.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(samples[0]))
        writer.writeheader()
        writer.writerows(samples)
    report(samples, args.frames, args.out)
    print(f"exit {proc.returncode}; samples, plot and the run's log in {args.out}")


def rate(samples: list[dict[str, float]], low: float, high: float | None = None) -> float:
    """Frames/s from the first sample at ``low`` frames or more to the first at ``high`` or more
    (``None``: to the last sample; the run may end between two samples, short of its last frame)."""
    first = next(s for s in samples if s["frames"] >= low)
    last = samples[-1] if high is None else next(s for s in samples if s["frames"] >= high)
    return (last["frames"] - first["frames"]) / max(1e-9, last["seconds"] - first["seconds"])


def report(samples: list[dict[str, float]], frames: int, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from oni_rl.logbook import save_figure

    first, last = rate(samples, 0.0, frames * 0.1), rate(samples, frames * 0.9)
    print(f"frames/s over the first tenth {first:.0f}, over the last tenth {last:.0f}: "
          f"ratio {last / first:.2f} (target >= 0.9)")
    samples = [s for s in samples if s["rss_main_mb"] > 0]  # a sample taken as the run exited
    early = [s for s in samples if s["frames"] <= frames * 0.1]
    total = [s["rss_main_mb"] + s["rss_children_mb"] for s in samples]
    peak_early = max(s["rss_main_mb"] + s["rss_children_mb"] for s in early) if early else total[0]
    print(f"memory: {total[0]:.0f} MB at the first sample, {peak_early:.0f} MB peak in the first tenth, "
          f"{total[-1]:.0f} MB at the end, {max(total):.0f} MB peak; store {samples[-1]['store_mb']:.1f} MB")
    minutes = [s["seconds"] / 60 for s in samples]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    axes[0].plot(minutes, [s["frames"] for s in samples])
    axes[0].set_title("frames trained")
    axes[1].plot(minutes, [s["rss_main_mb"] for s in samples], label="trainer + reward server")
    axes[1].plot(minutes, [s["rss_children_mb"] for s in samples], label="env workers (all)")
    axes[1].set_title("resident memory (MB)")
    axes[1].legend(fontsize=8)
    axes[2].plot(minutes, [s["store_mb"] for s in samples])
    axes[2].set_title("store on disk (MB)")
    for axis in axes:
        axis.set_xlabel("minutes")
    save_figure(figure, out / "long_run.png")


if __name__ == "__main__":
    main()
