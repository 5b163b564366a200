"""Does the reward server's memory grow, and is it Python objects, native allocations or free heap?

Stop 20 saw the reward server's RSS grow ~10 MB a minute beside a training run (907 -> 1,043 MB
over 400k frames, 2,205 distinct messages). This runs the server alone, in its own process,
under the load a training run puts on it (``benchmarks.server_load``'s clients: real
``RewardClient``s observing messages, reporting episodes, syncing the table), and samples it
every ``--sample-every`` seconds:

- RSS, distinct messages and labels so far;
- Python-level memory: the count of live objects the garbage collector tracks, and with
  ``--trace`` the bytes tracemalloc traces (allocated through Python's allocator since start);
- at the end, RSS before and after glibc's ``malloc_trim(0)``: memory freed but kept by the
  allocator comes back, a leak does not.

If RSS grows while the Python-level figures hold, the growth is native (llama.cpp, or the
allocator's arenas); if the trim gives it back, it is free heap, not a leak. The object types
(and, with ``--trace``, the source lines) that grew most are printed at the end.

    python -m benchmarks.server_memory --seconds 900                      # judge busy (new messages)
    python -m benchmarks.server_memory --seconds 900 --new-share 0        # requests only, nothing to judge
    python -m benchmarks.server_memory --judge-alone 1500                 # the embedded judge, no server

``--judge-alone N`` takes the server away: the embedded judge (Gemma 3 270M) labels N new
messages in a process of its own, twice: as it does now (each generation's llama.cpp sampler
chain closed at once) and as llama-cpp-python leaves it (the chain kept on the ``Llama`` object
until the next generation replaces it, then freed by the cyclic GC), RSS every 100 messages.

The server side (``--serve``) is this module too: it wraps ``python -m reward_server`` with
signal handlers (SIGUSR1: append a report line; SIGUSR2: ``malloc_trim``) so nothing of this
lives in the server's own code.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import gc
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import httpx

from benchmarks.common import server_process, wait_until_labelled
from benchmarks.server_load import add_client_load_args, client_process, message_pool, rss_mib

REPORT_ENV = "ONI_MEMORY_REPORT"
TRACE_ENV = "ONI_MEMORY_TRACE"


# --- server side -------------------------------------------------------------------------------

def serve(server_argv: list[str]) -> int:
    """Run the reward server with the two report signals installed."""
    report = Path(os.environ[REPORT_ENV])
    trace = os.environ.get(TRACE_ENV) == "1"
    if trace:
        tracemalloc.start(8)
    baseline: dict[str, object] = {}
    libc = ctypes.CDLL("libc.so.6")

    def type_counts() -> collections.Counter[str]:
        return collections.Counter(type(o).__name__ for o in gc.get_objects())

    def write(line: dict[str, object]) -> None:
        with report.open("a") as f:
            f.write(json.dumps(line) + "\n")

    def on_report(signum: int, frame: object) -> None:
        counts = type_counts()
        line: dict[str, object] = {"kind": "report", "rss_mib": rss_mib(os.getpid()),
                                   "gc_objects": sum(counts.values())}
        snapshot = None
        if trace:
            line["traced_mib"] = tracemalloc.get_traced_memory()[0] / 2**20
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)])
        if not baseline:
            baseline.update(counts=counts, snapshot=snapshot)
        else:
            grown = counts - baseline["counts"]  # type: ignore[operator]
            line["types_grown"] = grown.most_common(12)
            if snapshot is not None:
                diffs = snapshot.compare_to(baseline["snapshot"], "lineno")  # type: ignore[arg-type]
                line["lines_grown"] = [f"{d.size_diff / 2**20:+.2f} MiB {d.count_diff:+d} "
                                       f"{d.traceback[0].filename}:{d.traceback[0].lineno}" for d in diffs[:12]]
        write(line)

    def on_trim(signum: int, frame: object) -> None:
        before = rss_mib(os.getpid())
        libc.malloc_trim(0)
        write({"kind": "trim", "rss_before_mib": before, "rss_after_mib": rss_mib(os.getpid())})

    signal.signal(signal.SIGUSR1, on_report)
    signal.signal(signal.SIGUSR2, on_trim)
    from reward_server.cli import main

    return main(server_argv)


# --- the judge alone ----------------------------------------------------------------------------

def judge_alone(calls: int, keep_sampler: bool, results: mp.Queue) -> None:
    """RSS every 100 judgements of ``calls`` new messages by the embedded judge, in this process."""
    from benchmarks.common import synthetic_messages
    from reward_server.judging.embedded_llm import EMBEDDED_MODELS, EmbeddedLlama
    from reward_server.judging.prompts import logprob_messages

    llama = EmbeddedLlama(EMBEDDED_MODELS["gemma-3-270m"].locate())
    if keep_sampler:  # the "before" arm: what llama-cpp-python does on its own
        llama._close_sampler = lambda: None  # type: ignore[method-assign]
    rss: list[float] = []
    llama.first_token_logprobs(logprob_messages("You kill the newt!", "default"), 5)  # load, prefix cached
    started = time.perf_counter()
    for i, message in enumerate(synthetic_messages(calls, start=5_000_000)):
        llama.first_token_logprobs(logprob_messages(message, "default"), 5)
        if i % 100 == 0:
            rss.append(rss_mib(os.getpid()))
    seconds = time.perf_counter() - started
    before = rss_mib(os.getpid())
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    results.put((rss, before, rss_mib(os.getpid()), calls / seconds))


def compare_judge_alone(calls: int) -> None:
    ctx = mp.get_context("spawn")
    arms = {}
    for name, keep in (("sampler left to the GC", True), ("sampler closed (now)", False)):
        results: mp.Queue = ctx.Queue()
        proc = ctx.Process(target=judge_alone, args=(calls, keep, results))
        proc.start()
        arms[name] = results.get(timeout=3600)
        proc.join(60)
    names = list(arms)
    print(f"embedded judge alone, {calls} new messages; RSS MiB after each 100 judgements")
    print(f"{'judged':>7} " + " ".join(f"{n:>24}" for n in names))
    for row, values in enumerate(zip(*(arms[n][0] for n in names), strict=True)):
        print(f"{row * 100 + 1:7d} " + " ".join(f"{v:24.0f}" for v in values))
    for name in names:
        _, before, after, rate = arms[name]
        print(f"{name}: end {before:.0f} MiB, after malloc_trim(0) {after:.0f} MiB; {rate:.1f} judgements/s")


# --- driver ------------------------------------------------------------------------------------

def read_report(path: Path, kind: str, after: int) -> dict:
    """Wait for the ``after``-th line of ``kind`` (the server writes it from a signal handler)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        lines = [x for x in lines if x["kind"] == kind]
        if len(lines) > after:
            return lines[after]
        time.sleep(0.2)
    raise TimeoutError(f"the server wrote no {kind} line")


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        raise SystemExit(serve(sys.argv[2:]))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_client_load_args(p, clients=8, seconds=900.0, steps_per_second=60.0, new_share=0.005, sync_interval=1.0)
    p.add_argument("--sample-every", type=float, default=60.0)
    p.add_argument("--trace", action="store_true", help="tracemalloc in the server (slows it down)")
    p.add_argument("--judge-alone", type=int, default=0, metavar="N",
                   help="no server: the embedded judge labels N new messages, sampler closed vs left to the GC")
    args = p.parse_args()
    if args.judge_alone:
        compare_judge_alone(args.judge_alone)
        return
    pool = message_pool(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.jsonl"
        env = {**os.environ, REPORT_ENV: str(report), TRACE_ENV: "1" if args.trace else "0"}
        with server_process(*args.server_args, module=("benchmarks.server_memory", "--serve"), env=env,
                            start_timeout=180) as (url, server):
            run(args, url, server, report, pool)


def run(args: argparse.Namespace, url: str, server: subprocess.Popen, report: Path, pool: list[str]) -> None:
    # warm up: the judge loads on its first call; the baseline is taken after it
    httpx.post(url + "/v1/messages", json={"messages": [{"text": m} for m in pool[:32]]}, timeout=60).raise_for_status()
    wait_until_labelled(url)
    server.send_signal(signal.SIGUSR1)
    first = read_report(report, "report", 0)
    ctx = mp.get_context("spawn")
    results: mp.Queue = ctx.Queue()
    start_at = time.time() + 5.0 + args.clients * 0.3
    workers = [ctx.Process(target=client_process, args=(i, url, args, pool, start_at, results))
               for i in range(args.clients)]
    for w in workers:
        w.start()
    print(f"server alone, {args.clients} clients x {args.steps_per_second:.0f} steps/s, new-message share "
          f"{args.new_share}, table sync every {args.sync_interval} s, {args.seconds:.0f} s"
          f"{', tracemalloc on' if args.trace else ''}", flush=True)
    header = f"{'seconds':>7} {'rss MiB':>8} {'messages':>9} {'labelled':>9} {'gc objects':>11}"
    print(header + (f" {'traced MiB':>10}" if args.trace else ""), flush=True)
    print(f"{0:7.0f} {first['rss_mib']:8.0f} {'':>9} {'':>9} {first['gc_objects']:11d}"
          + (f" {first['traced_mib']:10.1f}" if args.trace else ""), flush=True)
    samples = int(args.seconds // args.sample_every)
    last: dict = first
    for i in range(1, samples + 1):
        time.sleep(max(0.0, start_at + i * args.sample_every - time.time()))
        server.send_signal(signal.SIGUSR1)
        last = read_report(report, "report", i)
        stats = httpx.get(url + "/v1/stats", timeout=60).json()
        print(f"{i * args.sample_every:7.0f} {last['rss_mib']:8.0f} {stats['messages']:9d} {stats['labelled']:9d} "
              f"{last['gc_objects']:11d}" + (f" {last['traced_mib']:10.1f}" if args.trace else ""), flush=True)
    rows = [results.get(timeout=300) for _ in workers]
    for w in workers:
        w.join(30)
    server.send_signal(signal.SIGUSR2)
    trim = read_report(report, "trim", 0)
    print(f"errors: client {sum(r['errors'] for r in rows)}, dropped {sum(r['dropped'] for r in rows)}")
    print(f"RSS {first['rss_mib']:.0f} -> {last['rss_mib']:.0f} MiB over the run; malloc_trim(0) at the end: "
          f"{trim['rss_before_mib']:.0f} -> {trim['rss_after_mib']:.0f} MiB")
    print("object types grown most (count):", ", ".join(f"{t} {n:+d}" for t, n in last.get("types_grown", [])))
    for line in last.get("lines_grown", []):
        print("  ", line)


if __name__ == "__main__":
    main()
