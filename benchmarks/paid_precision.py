"""What the intrinsic reward buys: how much of it goes to messages a strong judge calls helpful.

Two ways to measure, both against the labelled files of benchmarks/data (a strong judge's
labels; agent play carries how often agents met each message):

``--store RUN/oni.sqlite`` reads a finished run's store: every message the agents reported,
with how often they met it, and the reward table the run ended with. Of the occurrences of
*paid* messages whose label is known, the share that went to helpful ones is the
frequency-weighted precision (target: >= 0.8 in an 80k-frame default run). Coverage
says how much of the paid occurrences the labelled files know at all; the most-met paid
messages are listed, known or not.

``--serve`` starts a reward server per goal (any server options after ``--``), posts every
labelled message, waits for the labels and reads the server's own table: the false-positive rate
on agent play (target <= 5%), recall and AUC on random play (targets >= 0.8 and >= 0.95) and
the frequency-weighted precision over agent play's counts. ``--server URL`` does the same
against a running server (its goal).

    python -m benchmarks.paid_precision --store runs/oni/oni.sqlite
    python -m benchmarks.paid_precision --serve --goals default gold combat stairs
    python -m benchmarks.paid_precision --serve --goals default -- --calibration quantile
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from sklearn.metrics import roc_auc_score

from benchmarks.common import AGENTPLAY_DATA, DEV_DATA, running_server, wait_until_labelled


@dataclass(frozen=True)
class Labelled:
    message: str
    helpful: dict[str, int]  # goal -> 0/1
    count: int  # how often agents met it (agent play); 1 for random play


def read_labelled(path: Path) -> list[Labelled]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    goals = ("default", "gold", "combat", "stairs", "zero-knowledge")
    return [Labelled(r["message"], {g: int(r[g]) for g in goals if g in r}, int(r.get("count", 1))) for r in rows]


def weighted_precision(paid: dict[str, float], helpful: dict[str, int], counts: dict[str, int]) -> tuple[float, int]:
    """Share of the paid occurrences that went to helpful messages (NaN if nothing was paid)."""
    weight = sum(counts[m] for m, r in paid.items() if r > 0 and m in helpful)
    good = sum(counts[m] for m, r in paid.items() if r > 0 and helpful.get(m))
    return (good / weight if weight else float("nan")), weight


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    return float(roc_auc_score(labels, scores)) if 0 < sum(labels) < len(labels) else float("nan")


# ------------------------------------------------------------------------------ a run's store
def from_store(path: Path, goal: str, top: int) -> None:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    counts = dict(db.execute("SELECT text, count FROM messages"))
    rewards = dict(db.execute("SELECT text, reward FROM rewards"))
    known = {row.message: row.helpful[goal] for data in (AGENTPLAY_DATA, DEV_DATA) for row in read_labelled(data)
             if goal in row.helpful}
    paid = {m: r for m, r in rewards.items() if r > 0}
    paid_occurrences = sum(counts.get(m, 0) for m in paid)
    covered = {m: r for m, r in paid.items() if m in known}
    precision, weight = weighted_precision(covered, known, counts)
    print(f"{path}: {len(counts)} messages met {sum(counts.values())} times; {len(paid)} paid "
          f"({paid_occurrences} occurrences)")
    print(f"labelled files know {len(covered)} of the paid messages, {weight} of their occurrences "
          f"({weight / max(1, paid_occurrences):.0%} coverage)")
    print(f"frequency-weighted precision of paid messages (goal {goal}): {precision:.3f}")
    scored = [(m, s) for m, s in db.execute(
        "SELECT text, MAX(score) FROM annotations WHERE score IS NOT NULL GROUP BY text") if m in known]
    if scored:
        labels = [known[m] for m, _ in scored]
        predicted = [int(rewards.get(m, 0.0) > 0) for m, _ in scored]
        tp = sum(p and y for p, y in zip(predicted, labels, strict=True))
        f1 = 2 * tp / max(1, sum(predicted) + sum(labels))
        print(f"per message ({len(scored)} labelled and judged): AUC {auc([s for _, s in scored], labels):.3f}, "
              f"F1 {f1:.3f}, {sum(labels)} helpful")
    print("\nmost-met paid messages (strong judge: 1 helpful, 0 not, ? unknown):")
    for message in sorted(paid, key=lambda m: -counts.get(m, 0))[:top]:
        print(f"  {counts.get(message, 0):6d}  {known.get(message, '?')}  {message}")


# ------------------------------------------------------------------------- a server's table
def label_everything(url: str, messages: list[str], token: str | None) -> tuple[dict[str, float], dict[str, float]]:
    """Post the messages, wait for the LLM, read the table and the judge's scores."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        for start in range(0, len(messages), 512):
            batch = messages[start:start + 512]
            http.post("/v1/messages", json={"messages": [{"text": m, "count": 0} for m in batch]}).raise_for_status()
        wait_until_labelled(url, timeout=3600)
        settled(http)
        table = http.get("/v1/rewards", params={"since": 0}).json()["rewards"]
        scores: dict[str, float] = {}
        for start in range(0, len(messages), 512):
            rows = http.post("/v1/score", json={"messages": messages[start:start + 512]}).json()["scores"]
            scores.update({r["message"]: r["score"] if r["score"] is not None else r["reward"] for r in rows})
        stats = http.get("/v1/stats").json()
    print(f"  server: llm {stats['llm']}, goal {stats['goal']}, threshold {stats['threshold']:+.2f}, "
          f"{stats['labelled']} labelled, {stats['unparsable']} unparsable")
    return table, scores


def settled(http: httpx.Client, quiet: float = 8.0, timeout: float = 300.0) -> None:
    """Return once a learned model's version has not moved for ``quiet`` seconds (its last fit,
    on every label, has been published); at once for a model that does not learn."""
    deadline = time.monotonic() + timeout
    version = http.get("/v1/stats").json().get("model_version")
    while version is not None and time.monotonic() < deadline:
        time.sleep(quiet)
        now = http.get("/v1/stats").json().get("model_version")
        if now == version:
            return
        version = now


def judge_report(goal: str, table: dict[str, float], scores: dict[str, float]) -> dict[str, float]:
    agent = [r for r in read_labelled(AGENTPLAY_DATA) if goal in r.helpful]
    random_play = [r for r in read_labelled(DEV_DATA) if goal in r.helpful]
    out: dict[str, float] = {}
    negatives = [r for r in agent if not r.helpful[goal]]
    paid_negatives = [r for r in negatives if table.get(r.message, 0.0) > 0]
    out["agentplay_fpr"] = len(paid_negatives) / max(1, len(negatives))
    out["agentplay_fpr_weighted"] = sum(r.count for r in paid_negatives) / max(1, sum(r.count for r in negatives))
    out["agentplay_precision_weighted"], _ = weighted_precision(
        table, {r.message: r.helpful[goal] for r in agent}, {r.message: r.count for r in agent})
    positives = [r for r in agent if r.helpful[goal]]
    out["agentplay_recall"] = (sum(table.get(r.message, 0.0) > 0 for r in positives) / len(positives)
                               if positives else float("nan"))
    out["agentplay_auc"] = auc([scores[r.message] for r in agent], [r.helpful[goal] for r in agent])
    if random_play and any(r.helpful[goal] for r in random_play):
        labels = [r.helpful[goal] for r in random_play]
        paid = [int(table.get(r.message, 0.0) > 0) for r in random_play]
        tp = sum(p and y for p, y in zip(paid, labels, strict=True))
        out["random_recall"] = tp / sum(labels)
        out["random_fpr"] = sum(p and not y for p, y in zip(paid, labels, strict=True)) / max(1, len(labels) - sum(labels))
        out["random_f1"] = 2 * tp / (sum(paid) + sum(labels))
        out["random_auc"] = auc([scores[r.message] for r in random_play], labels)
    print(f"  agent play ({len(agent)} messages, {len(positives)} helpful): FPR {out['agentplay_fpr']:.3f} "
          f"(by how often met {out['agentplay_fpr_weighted']:.3f}), frequency-weighted precision "
          f"{out['agentplay_precision_weighted']:.3f}, AUC {out['agentplay_auc']:.3f}")
    if "random_recall" in out:
        print(f"  random play ({len(random_play)} messages, {sum(r.helpful[goal] for r in random_play)} helpful): "
              f"recall {out['random_recall']:.3f}, FPR {out['random_fpr']:.3f}, F1 {out['random_f1']:.3f}, "
              f"AUC {out['random_auc']:.3f}")
    for r in sorted(paid_negatives, key=lambda r: -scores[r.message])[:8]:
        print(f"    paid, unhelpful: {scores[r.message]:+.2f} x{r.count} {r.message}")
    return out


def all_messages() -> list[str]:
    return list(dict.fromkeys(r.message for data in (AGENTPLAY_DATA, DEV_DATA) for r in read_labelled(data)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--store", type=Path, help="a run's SQLite store")
    where.add_argument("--serve", action="store_true", help="start a default server per goal and measure it")
    where.add_argument("--server", help="measure a running server (its own goal)")
    p.add_argument("--goal", default="default", help="--store: the goal the run's labels are scored under")
    p.add_argument("--goals", nargs="+", default=["default", "gold", "combat", "stairs"], help="--serve: goals")
    p.add_argument("--token", help="--server: its bearer token")
    p.add_argument("--top", type=int, default=20, help="--store: paid messages to list")
    p.add_argument("server_args", nargs="*", help="--serve: reward server options, after --")
    args = p.parse_args()
    if args.store:
        from_store(args.store, args.goal, args.top)
        return
    messages = all_messages()
    if args.server:
        goal = httpx.get(args.server + "/v1/stats", headers={"Authorization": f"Bearer {args.token}"}
                         if args.token else {}).json()["goal"]
        print(f"goal {goal}:")
        judge_report(goal, *label_everything(args.server, messages, args.token))
        return
    results = {}
    for goal in args.goals:
        print(f"goal {goal}:", flush=True)
        with running_server("--goal", goal, *args.server_args) as url:
            results[goal] = judge_report(goal, *label_everything(url, messages, None))
    print("\n| goal | agent-play FPR | FPR by count | agent-play weighted precision | random-play recall | "
          "random-play AUC |")
    print("| --- | --- | --- | --- | --- | --- |")
    for goal, r in results.items():
        print(f"| {goal} | {r['agentplay_fpr']:.3f} | {r['agentplay_fpr_weighted']:.3f} | "
              f"{r['agentplay_precision_weighted']:.3f} | {r.get('random_recall', float('nan')):.3f} | "
              f"{r.get('random_auc', float('nan')):.3f} |")


if __name__ == "__main__":
    main()
