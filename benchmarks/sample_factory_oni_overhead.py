"""Sample Factory with ONI rewards ÷ Sample Factory alone: frames/s side by side, same machine.

Both arms are Sample Factory 2.1.1's APPO on ``NetHackScore-v0`` with oni's encoder, in Sample
Factory's own virtual environment: ``sf`` is the task alone (``benchmarks/sample_factory_nethack.py``),
``sf+oni`` the example ``examples/sample_factory_nethack.py`` (every env in ``OniRewardWrapper``)
against a reward server in its own process. The server's reward model is ``novelty`` (every
message paid from the table, no LLM: the wrapper's step path is the same as with any model's
table; a labelling LLM would only compete for this machine's 2 cores). Runs alternate in ABBA
order; each rate is read from Sample Factory's own log (steady state: first to last frame report).
Target: ≥ 0.95.

    python -m benchmarks.sample_factory_oni_overhead --sf-python /tmp/sfvenv/bin/python --frames 16384 --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from benchmarks.common import running_server
from benchmarks.throughput_vs_sample_factory import run_sample_factory

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample_factory_nethack.py"


def run_arm(args: argparse.Namespace, arm: str, tmp: Path, tag: str, server: str) -> float:
    """``sf``: the task alone; ``sf+oni``: the example, every env in OniRewardWrapper."""
    if arm == "sf":
        return run_sample_factory(args, tmp, tag, name=arm)  # its script already saves no checkpoints
    return run_sample_factory(args, tmp, tag, script=EXAMPLE, name=arm,
                              extra=("--save_every_sec=100000", f"--oni_server={server}"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sf-python", required=True, help="the python of Sample Factory's virtual environment")
    p.add_argument("--frames", type=int, default=16384)
    p.add_argument("--rounds", type=int, default=2, help="ABBA rounds (each runs both arms twice)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--envs-per-worker", type=int, default=4)
    p.add_argument("--max-episode-steps", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    fps: dict[str, list[float]] = {"sf": [], "sf+oni": []}
    print(f"NetHackScore-v0, Sample Factory APPO, {args.workers} workers x {args.envs_per_worker} envs, "
          f"{args.frames} frames a run, {args.rounds} ABBA rounds")
    with tempfile.TemporaryDirectory() as tmp, running_server("--reward-model", "novelty") as server:
        for r in range(args.rounds):
            for i, arm in enumerate(("sf", "sf+oni", "sf+oni", "sf")):
                fps[arm].append(run_arm(args, arm, Path(tmp), f"r{r + 1}.{i + 1}", server))
    sf, oni = statistics.mean(fps["sf"]), statistics.mean(fps["sf+oni"])
    print("\n| arm | frames/s (mean) | runs |")
    print("| --- | --- | --- |")
    for arm, values in fps.items():
        print(f"| {arm} | {statistics.mean(values):.1f} | {', '.join(f'{v:.0f}' for v in values)} |")
    print(f"\nSample Factory + ONI ÷ Sample Factory: {oni / sf:.3f} (target >= 0.95)")


if __name__ == "__main__":
    main()
