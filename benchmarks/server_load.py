"""Load test: many client processes (real ``RewardClient``s) against one reward server.

Each of ``--clients`` processes runs one ``RewardClient`` the way a wrapper drives it: every
simulated step it ``observe``s a message — mostly from a pool of real NLE messages, a
``--new-share`` of them never seen before (so the server's queue and store keep growing) —
and every ``--episode-steps`` steps it reports the episode's message counts. The client's
own thread ships batches and syncs the table every ``--sync-interval`` seconds. The server
runs in its own process with the embedded LLM (or ``--llm``) labelling as fast as it can.

Reported: messages/s accepted by the server, table syncs/s, client-side request latency
p50/p99, errors (client and server side; target 0), the server's RSS at the start and end
(bounded queue, no leak), and how far annotation got. The baseline beside it is the same
clients' ``/healthz`` round trip measured in the same run before the load starts.

    python -m benchmarks.server_load --clients 64 --seconds 60
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import statistics
import time
from pathlib import Path

import httpx

from benchmarks.common import DEV_DATA, server_process, wait_until_labelled


def message_pool(path: Path) -> list[str]:
    return [json.loads(line)["message"] for line in path.read_text().splitlines() if line.strip()]


def client_process(index: int, url: str, args: argparse.Namespace, pool: list[str], start_at: float,
                   results: mp.Queue) -> None:
    from oni_wrappers import RewardClient

    rng = random.Random(index)
    client = RewardClient(url, sync_interval=args.sync_interval, timeout=30.0)
    client.ensure_running()
    while time.time() < start_at:
        time.sleep(0.01)
    counts: dict[str, int] = {}
    observed = 0
    deadline = start_at + args.seconds
    step_gap = 1.0 / args.steps_per_second
    next_step = time.perf_counter()
    while time.time() < deadline:
        if rng.random() < args.new_share:
            message = f"You kill the load-test newt {index}-{observed}!"
        else:
            message = rng.choice(pool)
        if message not in client.table:
            client.observe(message)
        counts[message] = counts.get(message, 0) + 1
        observed += 1
        if observed % args.episode_steps == 0:
            client.record_episode(counts)
            counts = {}
        next_step += step_gap
        time.sleep(max(0.0, next_step - time.perf_counter()))
    client.record_episode(counts)
    flushed = client.flush(timeout=30.0)
    client.close()
    stats = client.stats
    results.put({
        "observed": observed, "sent": stats.messages_sent, "syncs": stats.syncs, "errors": stats.errors,
        "dropped": stats.messages_dropped, "flushed": flushed, "latencies": list(stats.latencies),
        "last_error": stats.last_error,
    })


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def healthz_baseline(url: str, requests: int = 200) -> list[float]:
    latencies = []
    with httpx.Client(base_url=url) as http:
        for _ in range(requests):
            started = time.perf_counter()
            http.get("/healthz").raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


def quantiles_ms(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=100)
    return q[49] * 1e3, q[98] * 1e3


def add_client_load_args(p: argparse.ArgumentParser, *, clients: int, seconds: float, steps_per_second: float,
                         new_share: float, sync_interval: float) -> None:
    """The options of the simulated wrappers (``client_process`` reads them), with each benchmark's defaults."""
    p.add_argument("--clients", type=int, default=clients)
    p.add_argument("--seconds", type=float, default=seconds)
    p.add_argument("--steps-per-second", type=float, default=steps_per_second,
                   help="observe() calls per client per second")
    p.add_argument("--new-share", type=float, default=new_share, help="share of steps showing a never-seen message")
    p.add_argument("--episode-steps", type=int, default=500)
    p.add_argument("--sync-interval", type=float, default=sync_interval)
    p.add_argument("--data", type=Path, default=DEV_DATA, help="JSONL with a 'message' field (the message pool)")
    p.add_argument("server_args", nargs="*", help="extra reward_server arguments, after --")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_client_load_args(p, clients=64, seconds=60.0, steps_per_second=200.0, new_share=0.01, sync_interval=0.25)
    args = p.parse_args()
    pool = message_pool(args.data)
    ctx = mp.get_context("spawn")
    with server_process(*args.server_args) as (url, proc):
        # warm up: the LLM loads on its first call; measure RSS from there on
        httpx.post(url + "/v1/messages", json={"messages": [{"text": pool[0]}]}, timeout=30).raise_for_status()
        wait_until_labelled(url)
        rss_start = rss_mib(proc.pid)
        base = healthz_baseline(url)
        results: mp.Queue = ctx.Queue()
        start_at = time.time() + 5.0 + args.clients * 0.3  # everyone imported and connected first
        workers = [ctx.Process(target=client_process, args=(i, url, args, pool, start_at, results))
                   for i in range(args.clients)]
        for w in workers:
            w.start()
        timeline: list[float] = []  # RSS every tenth of the run: growth that levels off is warm-up, not a leak
        while time.time() < start_at:
            time.sleep(0.2)
        for tenth in range(1, 11):
            time.sleep(max(0.0, start_at + args.seconds * tenth / 10 - time.time()))
            timeline.append(rss_mib(proc.pid))
        peak_rss = max(timeline)
        rows = [results.get(timeout=120) for _ in workers]
        for w in workers:
            w.join(30)
        rss_end = rss_mib(proc.pid)
        stats = httpx.get(url + "/v1/stats", timeout=30).json()
        server_errors = sum(
            float(line.split()[-1]) for line in httpx.get(url + "/metrics", timeout=30).text.splitlines()
            if line.startswith("oni_http_errors_total")
        )
    seconds = args.seconds
    latencies = [x for r in rows for x in r["latencies"]]
    lat50, lat99 = quantiles_ms(latencies)
    base50, base99 = quantiles_ms(base)
    print(f"clients {args.clients}, {seconds:.0f} s, {args.steps_per_second:.0f} steps/s each, "
          f"new-message share {args.new_share}")
    print(f"steps simulated        {sum(r['observed'] for r in rows) / seconds:10.0f} /s")
    print(f"messages accepted      {sum(r['sent'] for r in rows) / seconds:10.0f} /s "
          f"(server saw {stats['messages']} distinct)")
    print(f"table syncs            {sum(r['syncs'] for r in rows) / seconds:10.1f} /s")
    print(f"request latency        p50 {lat50:7.2f} ms  p99 {lat99:7.2f} ms   "
          f"(idle /healthz baseline p50 {base50:.2f} ms p99 {base99:.2f} ms; ratio p50 {lat50 / base50:.1f}x)")
    print(f"errors                 client {sum(r['errors'] for r in rows)}  server {server_errors:.0f}  "
          f"dropped {sum(r['dropped'] for r in rows)}  unflushed clients {sum(not r['flushed'] for r in rows)}")
    print(f"server RSS             start {rss_start:.0f} MiB  peak {peak_rss:.0f} MiB  end {rss_end:.0f} MiB")
    print(f"RSS every {seconds / 10:.0f} s       " + " ".join(f"{x:.0f}" for x in timeline))
    print(f"annotation             labelled {stats['labelled']}  queued {stats['queued']}  "
          f"llm failures {stats['llm_failures']}  circuit {stats['llm_circuit']}")
    errors = [r["last_error"] for r in rows if r["last_error"]]
    if errors:
        print("client errors, e.g.:", errors[0])


if __name__ == "__main__":
    main()
