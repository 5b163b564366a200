"""The wrapper's cost in hardware counters: instructions, cycles and cache misses per NetHack step.

``wrapper_overhead`` and ``wrapper_ablation`` time the wrapper; on a shared 2-core VM their
ratios move 1-3 points run to run, which hides single parts. Instructions retired do not depend
on the machine's mood, and cycles next to cache misses say *why* a step got slower: more work,
or the same work with NetHack's own code and data evicted by the Python that ran between steps.

For each arm of ``wrapper_ablation``'s ladder a child process runs under ``perf stat`` with its
counters disabled; the child steps *every* arm in the same interleaved rounds (so each child
does the same work and has the same memory layout) and switches the counters on, through perf's
control FIFO, only around the counted arm's steps. Counts are user space only (``:u``: this
kernel lets an unprivileged process count its own user-space events) and per step, resets and
all (the game and the actions are the same in every arm, so they cancel in the differences).

How exact: an arm's count moves by a few hundred instructions a step from one child to another
(the forwarding arm read +37, +464 and -68 over raw in three runs, and the unchanged ``info``
arm +7,711, +7,650 and +7,292), so differences under ~500 are not resolved; and raw NLE's own
count differs between days (NetHack reads the clock), so compare arms within one run.

Needs ``perf`` (Debian: ``linux-perf``) and hardware counters in the VM.

    python -m benchmarks.wrapper_counters --rounds 4 --table 1000000
    python -m benchmarks.wrapper_counters --rounds 2 --table 1000000 --compiled-wrapper   # needs Cython
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

#: counted in user space only; perf prints some of them back without the ``:u``, so results are keyed by
#: the bare name. Five: this VM gives a process five counters (a sixth event reads 0).
EVENTS = ["instructions", "cycles", "stalled-cycles-frontend", "L1-icache-load-misses", "branch-misses"]
SHORT = {"instructions": "instr", "cycles": "cycles", "stalled-cycles-frontend": "frontend stall",
         "L1-icache-load-misses": "L1i miss", "branch-misses": "br miss"}


def child(args: argparse.Namespace) -> None:
    """Step every arm; count only ``args.count_arm`` (perf's counters are toggled through the FIFOs)."""
    from benchmarks.wrapper_ablation import build_arms
    from benchmarks.wrapper_overhead import abba, timed_steps

    if args.compiled_wrapper:
        import oni_wrappers.wrapper

        if not oni_wrappers.wrapper.__file__.endswith(".so"):
            sys.exit(f"expected the compiled wrapper, imported {oni_wrappers.wrapper.__file__}")
    arms = build_arms(args.table, slim_info=args.slim_info)
    if args.count_arm not in arms:
        sys.exit(f"no arm {args.count_arm!r}; arms: {list(arms)}")
    actions = np.random.default_rng(args.seed).integers(0, 23, size=args.steps)
    for env in arms.values():  # warm every memo on this game's messages
        timed_steps(env, actions, args.seed)
    with open(args.ctl, "w") as ctl, open(args.ack) as ack:

        @contextmanager
        def counting(name: str) -> Iterator[None]:
            if name != args.count_arm:
                yield
                return
            ctl.write("enable\n")
            ctl.flush()
            ack.readline()
            try:
                yield
            finally:
                ctl.write("disable\n")
                ctl.flush()
                ack.readline()

        abba(arms, actions, args, around=counting)


def count_arm(arm: str, args: argparse.Namespace, tmp: Path, extra_env: dict[str, str],
              cwd: Path | None) -> dict[str, tuple[float, str]]:
    """``{event: (count per step, percent of time counted)}`` for one arm, from its own child."""
    ctl, ack, out = tmp / f"{arm}.ctl", tmp / f"{arm}.ack", tmp / f"{arm}.csv"
    os.mkfifo(ctl)
    os.mkfifo(ack)
    command = ["perf", "stat", "-x", ",", "-o", str(out), "--control", f"fifo:{ctl},{ack}", "-D", "-1",
               "-e", ",".join(f"{event}:u" for event in EVENTS), "--", sys.executable, "-m", "benchmarks.wrapper_counters", "--child",
               "--count-arm", arm, "--ctl", str(ctl), "--ack", str(ack), "--steps", str(args.steps),
               "--rounds", str(args.rounds), "--seed", str(args.seed), "--table", str(args.table)]
    if args.slim_info:
        command.append("--slim-info")
    if args.compiled_wrapper:
        command.append("--compiled-wrapper")
    # One string-hash seed for every child: dict probe sequences (the memo, the 1M-row table) then
    # match, so the arms differ only in their code. NetHack itself reads the clock (moon phase,
    # night), likely why raw NLE's count differs between days: compare arms of one run, not runs.
    env = {**os.environ, "PYTHONHASHSEED": "0", **extra_env}
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env, cwd=cwd)  # perf says "Events enabled" there
    steps = args.steps * args.rounds
    counts: dict[str, tuple[float, str]] = {}
    for row in csv.reader(line for line in out.read_text().splitlines() if line and not line.startswith("#")):
        value, event, running = row[0], row[2], row[4] if len(row) > 4 else ""
        if value.replace(".", "").isdigit():
            counts[event.removesuffix(":u")] = (float(value) / steps, running)
    return counts


def compiled_wrapper(tmp: Path) -> tuple[dict[str, str], Path]:
    """A copy of ``oni_wrappers`` with ``wrapper.py`` compiled by Cython, and how to make children use it.

    What a compiled step would save (issue 15's option of compiling the step): the same source,
    its bytecode dispatch replaced by C calls. Needs Cython (``pip install cython``; not a
    dependency of oni) and a C compiler.
    """
    if importlib.util.find_spec("Cython") is None:
        sys.exit("--compiled-wrapper needs Cython: pip install cython")
    repo = Path(__file__).resolve().parent.parent
    shutil.copytree(repo / "oni_wrappers", tmp / "compiled" / "oni_wrappers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "Cython.Build.Cythonize", "-i", "-3", "-q",
                    str(tmp / "compiled" / "oni_wrappers" / "wrapper.py")], check=True)
    # the children run in the copy's folder, with it first on the path: the editable install's
    # source folder must not be the current directory, or its wrapper.py would be imported
    return {"PYTHONPATH": os.pathsep.join([str(tmp / "compiled"), str(repo)])}, tmp / "compiled"


def parent(args: argparse.Namespace) -> None:
    if shutil.which("perf") is None:
        sys.exit("perf is not installed (Debian: apt install linux-perf)")
    from benchmarks.common import interpreter
    from benchmarks.wrapper_ablation import build_arms

    names = list(build_arms(0, slim_info=args.slim_info))  # the arm names only (a table of 0 rows)
    with tempfile.TemporaryDirectory(prefix="oni_counters_") as tmp_name:
        extra_env, cwd = compiled_wrapper(Path(tmp_name)) if args.compiled_wrapper else ({}, None)
        results = {name: count_arm(name, args, Path(tmp_name), extra_env, cwd) for name in names}
    raw = results["raw NetHackScore"]
    print(f"\n{interpreter()}" + ("; oni_wrappers/wrapper.py compiled by Cython" if args.compiled_wrapper else ""))
    print(f"per NetHack step ({args.rounds} rounds x {args.steps} steps counted per arm, table {args.table} rows); "
          "in brackets: minus raw NLE")
    header = "".join(f"{SHORT[e]:>22}" for e in EVENTS)
    print(f"{'arm':<18}{header}")
    for name, counts in results.items():
        cells = []
        for event in EVENTS:
            value = counts.get(event, (float("nan"), ""))[0]
            delta = value - raw.get(event, (float("nan"), ""))[0]
            cells.append(f"{value:>11,.0f} ({delta:+7,.0f})" if name != "raw NetHackScore" else f"{value:>11,.0f} {'':>9}")
        print(f"{name:<18}" + "".join(f"{c:>22}" for c in cells))
    ratios = [(name, raw["cycles"][0] / counts["cycles"][0]) for name, counts in results.items()
              if "cycles" in counts and name != "raw NetHackScore"]
    print("\ncycles-based ratio to raw (raw cycles / arm cycles): "
          + ", ".join(f"{name} {ratio:.3f}" for name, ratio in ratios))
    multiplexed = {e: c[1] for counts in results.values() for e, c in counts.items() if c[1] not in ("", "100.00")}
    if multiplexed:
        print(f"(multiplexed counters, percent of time counted: {multiplexed})")


def main() -> None:
    from benchmarks.wrapper_ablation import add_ladder_args

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_ladder_args(p, rounds=4)
    p.add_argument("--compiled-wrapper", action="store_true",
                   help="count oni_wrappers/wrapper.py compiled by Cython (needs Cython): a compiled step's saving")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--count-arm", help=argparse.SUPPRESS)
    p.add_argument("--ctl", help=argparse.SUPPRESS)
    p.add_argument("--ack", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
