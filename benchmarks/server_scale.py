"""The reward server at 10k, 100k and 1M labelled messages, with its LLM labelling new ones.

For each size N: a store with N messages already answered under the default server's question
(synthetic NLE-like messages, imported straight into SQLite), then ``python -m reward_server`` on
it (default settings: embedded LLM, retrieval, cut from calibration examples):

* restart: seconds from starting the process (on a store it has served before) to ``/healthz``;
* full sync: ``GET /v1/rewards`` of the whole table, gzip (time, bytes on the wire);
* while the embedded LLM labels 200 new messages: ``/healthz`` and ``/v1/rewards?since=<current>``
  polled every 20 ms for ``--seconds``, p50 / p99 / max latency;
* ``POST /v1/messages``: new messages per second the server takes, batches of 512;
* the server's RSS.

Targets: p99 at 1M ≤ 2× p99 at 10k (both endpoints), restart at 1M ≤ 30 s.

    python -m benchmarks.server_scale                     # 10k, 100k, 1M
    python -m benchmarks.server_scale --sizes 10000 100000 --seconds 15
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from benchmarks.common import DEV_DATA, make_labelled_store, server_process, synthetic_messages


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def poll(url: str, path: str, stop: threading.Event, out: list[float], since: bool) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        version = http.get("/v1/stats").json()["table_version"] if since else 0
        while not stop.is_set():
            started = time.perf_counter()
            response = http.get(path, params={"since": version} if since else None)
            out.append(time.perf_counter() - started)
            if since:
                version = response.json()["version"]
            time.sleep(0.02)


def measure(size: int, seconds: float, workdir: Path) -> dict[str, float]:
    store = workdir / f"scale-{size}.sqlite"
    started = time.perf_counter()
    make_labelled_store(store, size, [])
    built = time.perf_counter() - started
    with server_process(store=str(store), start_timeout=1800):  # first start: publishes the imported labels
        pass
    started = time.perf_counter()
    with server_process(store=str(store), start_timeout=600) as (url, proc):
        restart = time.perf_counter() - started
        with httpx.Client(base_url=url, timeout=300) as http:
            started = time.perf_counter()
            full = http.get("/v1/rewards", headers={"Accept-Encoding": "gzip"})
            full_seconds = time.perf_counter() - started
            rows = len(full.json()["rewards"])
            wire_bytes = len(full.content) if full.headers.get("content-encoding") != "gzip" else int(
                full.headers.get("content-length", 0))
            fresh = [line for line in DEV_DATA.read_text().splitlines() if line.strip()][:200]
            new = [json.loads(line)["message"] for line in fresh]
            latencies: dict[str, list[float]] = {"healthz": [], "rewards": []}
            stop = threading.Event()
            pollers = [threading.Thread(target=poll, args=(url, "/healthz", stop, latencies["healthz"], False)),
                       threading.Thread(target=poll, args=(url, "/v1/rewards", stop, latencies["rewards"], True))]
            for thread in pollers:
                thread.start()
            http.post("/v1/messages", json={"messages": [{"text": m} for m in new]})
            time.sleep(seconds)
            stop.set()
            for thread in pollers:
                thread.join()
            labelled = http.get("/v1/stats").json()["judged"]
            extra = synthetic_messages(20_000, start=size)
            started = time.perf_counter()
            for i in range(0, len(extra), 512):
                http.post("/v1/messages", json={"messages": [{"text": m, "count": 1} for m in extra[i:i + 512]]})
            post_rate = len(extra) / (time.perf_counter() - started)
            rss = rss_mb(proc.pid)
    return {
        "size": size, "rows": rows, "build_s": built, "restart_s": restart, "full_s": full_seconds,
        "full_mb": wire_bytes / 1e6, "labelled": labelled,
        **{f"{name}_{stat}": 1000 * fn(values) for name, values in latencies.items()
           for stat, fn in (("p50", statistics.median), ("p99", lambda v: percentile(v, 0.99)), ("max", max))},
        "post_per_s": post_rate, "rss_mb": rss,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--seconds", type=float, default=25.0, help="polling while the LLM labels")
    p.add_argument("--workdir", type=Path, help="where the stores go (default: a temporary folder)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        results = []
        for size in args.sizes:
            result = measure(size, args.seconds, workdir)
            print(result, flush=True)
            results.append(result)
    print("\n| messages | restart s | full sync s | full sync MB (gzip) | /healthz p50 / p99 / max ms | "
          "/v1/rewards?since p50 / p99 / max ms | labelled meanwhile | POST msgs/s | RSS MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['size']:,} | {r['restart_s']:.1f} | {r['full_s']:.2f} | {r['full_mb']:.1f} | "
              f"{r['healthz_p50']:.1f} / {r['healthz_p99']:.1f} / {r['healthz_max']:.0f} | "
              f"{r['rewards_p50']:.1f} / {r['rewards_p99']:.1f} / {r['rewards_max']:.0f} | {r['labelled']} | "
              f"{r['post_per_s']:,.0f} | {r['rss_mb']:.0f} |")
    small, big = results[0], results[-1]
    for name in ("healthz", "rewards"):
        ratio = big[f"{name}_p99"] / small[f"{name}_p99"]
        print(f"{name} p99 at {big['size']:,} / at {small['size']:,}: {ratio:.2f}x (target <= 2)")
    print(f"restart at {big['size']:,}: {big['restart_s']:.1f} s (target <= 30)")


if __name__ == "__main__":
    main()
