"""Reward-server HTTP throughput with N concurrent clients, against /healthz as the baseline.

The server runs in its own process with a table of ``--table`` messages. Each client loops
for ``--seconds`` on one request: ``GET /v1/rewards?since=0`` (a new client's full sync),
``GET /v1/rewards?since=<current>`` (the steady state: nothing changed) or ``POST /v1/messages`` (a batch of ``--batch`` already-known messages with
counts, as wrappers send at episode ends). The same clients first hammer ``/healthz`` (no work
at all) so the ratio says what the endpoint costs beyond aiohttp itself.

Annotation is kept out of the measurement: the server's LLM is pointed at a closed port, so
the annotator only re-queues (the HTTP path is what is measured here; LLM speed has its own
benchmark).

    python benchmarks/server_throughput.py --clients 16 --seconds 10 --table 10000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from benchmarks.common import free_port, running_server


async def hammer(url: str, clients: int, seconds: float, request) -> tuple[int, int, list[float]]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        deadline = time.perf_counter() + seconds

        async def one_client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await request(http)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return len(latencies), errors, latencies


def report(name: str, count: int, errors: int, latencies: list[float], seconds: float, rows: int) -> float:
    q = statistics.quantiles(latencies, n=100)
    rate = count / seconds
    print(f"{name:28s} {rate:8.0f} req/s  {rate * rows:10.0f} message-rewards/s  "
          f"p50 {q[49] * 1e3:6.2f} ms  p99 {q[98] * 1e3:6.2f} ms  errors {errors}")
    return rate


async def run(args: argparse.Namespace) -> None:
    dead_llm = f"http://127.0.0.1:{free_port()}/v1"
    with running_server("--llm", "openai/unreachable", "--api-base", dead_llm, "--api-key", "unused",
                        "--llm-timeout", "1") as url:
        table = [f"benchmark message {i}: You kill the newt number {i}!" for i in range(args.table)]
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            for start in range(0, len(table), 4000):
                chunk = table[start : start + 4000]
                await http.post("/v1/messages", json={"messages": [{"text": t} for t in chunk]})
            version = (await http.get("/v1/stats")).json()["table_version"]
        batch = {"messages": [{"text": t, "count": 3} for t in table[: args.batch]]}

        async def health(http):  # type: ignore[no-untyped-def]
            return await http.get("/healthz")

        async def full_sync(http):  # type: ignore[no-untyped-def]
            return await http.get("/v1/rewards", params={"since": 0})

        async def up_to_date(http):  # type: ignore[no-untyped-def]
            return await http.get("/v1/rewards", params={"since": version})

        async def messages(http):  # type: ignore[no-untyped-def]
            return await http.post("/v1/messages", json=batch)

        print(f"{args.clients} concurrent clients, {args.seconds:.0f} s each, table {len(table)} messages, "
              f"message batch {args.batch}")
        base = report("GET /healthz (baseline)", *await hammer(url, args.clients, args.seconds, health),
                      args.seconds, 0)
        full = report("GET /v1/rewards?since=0", *await hammer(url, args.clients, args.seconds, full_sync),
                      args.seconds, len(table))
        r = report("GET /v1/rewards?since=now", *await hammer(url, args.clients, args.seconds, up_to_date),
                   args.seconds, 0)
        m = report("POST /v1/messages", *await hammer(url, args.clients, args.seconds, messages),
                   args.seconds, args.batch)
        print(f"ratio vs /healthz: full sync {full / base:.3f}, up-to-date sync {r / base:.2f}, "
              f"messages {m / base:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--table", type=int, default=10_000)
    p.add_argument("--batch", type=int, default=64)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
