"""Cost of the learned models as the table grows, and whether a fit stalls the server.

Part 1 (model level, this process): for tables of 10k, 100k and 1M distinct messages (drawn
from NLE message templates with varied monsters, items and numbers), the one-off cost of
encoding them, of a classification fit on 2,000 labels, and of re-scoring the whole table
after a fit (what every fit does), plus the trainer's diff of what changed.

Part 2 (server level): a real server (classification) on a store holding ``--server-table``
labelled messages. It fits at start-up; a client meanwhile polls ``GET /v1/rewards?since=V``
back to back. Prints the latency during the fit against the latency after it (ratio).

    python -m benchmarks.rescoring --sizes 10000 100000 1000000 --server-table 100000
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from benchmarks.common import running_server
from reward_server.judging.prompts import prompt_version
from reward_server.models.classification import ClassificationModel
from reward_server.models.features import FeatureCache
from reward_server.storage.store import Annotation, AnnotationKey, Store

MONSTERS = ["newt", "jackal", "kobold", "goblin", "gnome", "dwarf", "orc", "sewer-rat", "grid-bug", "lichen",
            "fox", "coyote", "hill-orc", "gnome-lord", "giant-rat", "cave-spider", "acid-blob", "floating-eye",
            "homunculus", "hobbit"]
ITEMS = ["dagger", "scroll", "potion", "wand", "ring", "amulet", "apple", "food-ration", "tin", "corpse", "arrow",
         "bow", "gem", "rock"]
TEMPLATES = [
    ("You kill the {m}!", 1), ("The {m} is killed!", 1), ("$ - {n} gold pieces.", 1),
    ("Welcome to experience level {n}.", 1), ("There is a staircase down here.  {x}", 1),
    ("You see here a {i}.", 0), ("The {m} bites!", 0), ("You miss the {m}.", 0), ("It's a wall.  {x}", 0),
    ("{l} - a {i} named {w}.", 0), ("The {m} picks up a {i}.", 0), ("You hear {w} in the distance.", 0),
]


def synthetic_messages(count: int, seed: int = 0) -> tuple[list[str], list[int]]:
    """``count`` distinct NLE-like messages and a template label for each."""
    rng = random.Random(seed)
    texts: dict[str, int] = {}
    while len(texts) < count:
        template, label = rng.choice(TEMPLATES)
        text = template.format(
            m=rng.choice(MONSTERS).replace("-", " "), i=rng.choice(ITEMS).replace("-", " "),
            n=rng.randint(1, 10**6), x=f"({rng.randint(1, 10**6)})", l=rng.choice("abcdefghij"),
            w="".join(rng.choice("aeioulmnrst") for _ in range(8)),
        )
        texts.setdefault(text, label)
    return list(texts), list(texts.values())


def model_costs(sizes: list[int]) -> None:
    print("| messages | encode (s, once) | fit on 2k labels (s) | re-score table (s) | diff (s) | µs / message re-scored |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size in sizes:
        texts, labels = synthetic_messages(size)
        cache = FeatureCache()
        started = time.perf_counter()
        for start in range(0, size, 10_000):
            cache.add(texts[start : start + 10_000])
        encode = time.perf_counter() - started
        model = ClassificationModel(cache)
        train = dict(zip(texts[:2000], labels[:2000], strict=True))
        started = time.perf_counter()
        model.fit(train)
        fit = time.perf_counter() - started
        rescore_times, diff_times = [], []
        previous = np.full(size, np.nan)
        for _ in range(3):
            started = time.perf_counter()
            table = model.table()
            rescore_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            changed = np.flatnonzero(table != previous)
            _ = {cache.texts[i]: float(table[i]) for i in changed}
            previous = table
            diff_times.append(time.perf_counter() - started)
        rescore = statistics.median(rescore_times)
        print(f"| {size:,} | {encode:.1f} | {fit:.2f} | {rescore:.3f} | {max(diff_times):.3f} | "
              f"{rescore / size * 1e6:.2f} |", flush=True)


def server_stall(table_size: int) -> None:
    """Latency of ``/v1/rewards`` while the server fits, against after the fit."""
    texts, labels = synthetic_messages(table_size, seed=1)
    llm = "openai/unreachable"  # every message is annotated already: the LLM is never called
    with tempfile.TemporaryDirectory() as tmp:
        store_path = Path(tmp) / "oni.sqlite"
        key = AnnotationKey("default", prompt_version("logprob", "default"), llm, "logprob")
        rng = random.Random(2)  # distinct log-odds, so the quantile threshold splits them
        with Store(store_path) as store:
            store.add_messages(dict.fromkeys(texts, 1))
            store.add_annotations(key, [Annotation(t, None, (2.0 if y else -2.0) + rng.random(), "synthetic")
                                        for t, y in zip(texts, labels, strict=True)])
        with running_server("--llm", llm, "--api-base", "http://127.0.0.1:9/v1", "--reward-model",
                            "classification", "--train-interval", "0.5", store=str(store_path)) as url:
            samples: list[tuple[float, float]] = []
            stop = threading.Event()

            def poll() -> None:
                with httpx.Client(timeout=60) as http:
                    version = http.get(url + "/v1/rewards").json()["version"]
                    while not stop.is_set():
                        started = time.perf_counter()
                        version = http.get(url + "/v1/rewards", params={"since": version}).json()["version"]
                        samples.append((time.monotonic(), time.perf_counter() - started))

            poller = threading.Thread(target=poll)
            poller.start()
            fit_seen = None
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                stats = httpx.get(url + "/v1/stats", timeout=60).json()
                if stats["fits"] >= 1:
                    fit_seen = time.monotonic()
                    break
                time.sleep(0.2)
            time.sleep(5.0)  # latency after the fit too
            stop.set()
            poller.join()
    if fit_seen is None:
        print("the server did not fit within 600 s")
        return
    fit_seconds = stats["last_fit_seconds"]
    during = [lat for t, lat in samples if fit_seen - fit_seconds - 0.5 <= t <= fit_seen]
    after = [lat for t, lat in samples if t > fit_seen + 1.0]
    print(f"server, {table_size:,} labelled messages: fit {fit_seconds:.1f}s (+ re-score and publish)")
    for name, values in (("during fit", during), ("after fit", after)):
        if values:
            q = statistics.quantiles(values, n=100)
            print(f"  /v1/rewards {name}: {len(values)} requests, p50 {q[49] * 1e3:.1f} ms, p99 {q[98] * 1e3:.1f} ms,"
                  f" max {max(values) * 1e3:.1f} ms")
    if during and after:
        ratio = statistics.median(during) / statistics.median(after)
        print(f"  median latency during / after the fit: {ratio:.2f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    p.add_argument("--server-table", type=int, default=100_000, help="0 skips the server part")
    args = p.parse_args()
    model_costs(args.sizes)
    if args.server_table:
        server_stall(args.server_table)


if __name__ == "__main__":
    main()
