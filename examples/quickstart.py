"""ONI in one script: NetHack + OniRewardWrapper + a reward server with the embedded LLM.

Starts a reward server in this process (embedded default LLM on the CPU, store in ./oni-data),
plays NetHackScore with a random agent through the wrapper, and shows which messages the
LLM labelled how and how much intrinsic reward the agent received.

    python examples/quickstart.py --steps 3000
    python examples/quickstart.py --server http://127.0.0.1:8765   # use a running server
    python examples/quickstart.py --reward-model classification    # or ranking (online Motif)
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import gymnasium as gym
import httpx
import nle  # noqa: F401 - registers the NetHack envs
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from tqdm import tqdm

from oni_wrappers import OniRewardWrapper
from reward_server import ServerConfig
from reward_server.judging.embedded_llm import DEFAULT_EMBEDDED_MODEL
from reward_server.models.registry import REWARD_MODELS
from reward_server.runner import BackgroundServer


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="NetHackScore-v0")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--server", help="URL of a running reward server (default: start one here)")
    p.add_argument("--token", default=os.environ.get("ONI_TOKEN"),
                   help="bearer token of a server started with --token (env ONI_TOKEN)")
    p.add_argument("--llm", default=DEFAULT_EMBEDDED_MODEL, help="litellm model string")
    p.add_argument("--api-base")
    p.add_argument("--goal", default="default")
    p.add_argument("--reward-model", choices=list(REWARD_MODELS), default="retrieval",
                   help="the server's reward model (when this script starts the server)")
    p.add_argument("--store", type=Path, default=Path("oni-data/oni.sqlite"))
    p.add_argument("--intrinsic-coef", type=float, default=0.4)
    p.add_argument("--extrinsic-coef", type=float, default=0.1)
    p.add_argument("--count-exponent", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=3, help="play/label rounds the steps are split into")
    p.add_argument("--label-timeout", type=float, default=300.0, help="max seconds to wait per round")
    p.add_argument("--top", type=int, default=12, help="messages to show each way")
    return p.parse_args()


def play(env: OniRewardWrapper, steps: int, seed: int, totals: dict[str, float], desc: str) -> None:
    env.action_space.seed(seed)
    for _ in tqdm(range(steps), desc=desc, unit="step"):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        oni = info["oni"]
        totals["extrinsic"] += oni["extrinsic"]
        intrinsic_part = reward - env.extrinsic_coef * oni["extrinsic"]
        if intrinsic_part > 1e-12:
            totals["intrinsic_paid"] += intrinsic_part
            totals["shaped_steps"] += 1
        if terminated or truncated:
            totals["episodes"] += 1
            env.reset()


def wait_for_labels(env: OniRewardWrapper, api: httpx.Client, timeout: float) -> None:
    """Let the LLM label what the agent saw (a random agent outruns a CPU LLM by far)."""
    env.client.flush(timeout=10)
    stats = api.get("/v1/stats").json()
    deadline = time.monotonic() + timeout
    def todo(stats: dict) -> int:
        return stats["judged"] + stats["queued"] + stats["in_flight"]

    with tqdm(total=todo(stats), initial=stats["judged"], desc="LLM questions", unit="q") as bar:
        while stats["queued"] + stats["in_flight"] > 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            stats = api.get("/v1/stats").json()
            bar.total = todo(stats)
            bar.update(stats["judged"] - bar.n)
    env.client.flush(timeout=10)


def show_learned_table(console: Console, stats: dict, table: dict[str, float], top: int) -> None:
    """Classification / ranking: the model's rewards, for labelled and unlabelled messages alike."""
    ranked = sorted(table.items(), key=lambda item: item[1], reverse=True)
    out = Table(title=f"{stats['reward_model']} model v{stats['model_version']}: top {top} rewards")
    out.add_column("message")
    out.add_column("reward", justify="right")
    for message, reward in ranked[:top]:
        out.add_row(escape(message), f"{reward:.3f}")
    console.print(out)
    examples = "labels" if stats["reward_model"] == "classification" else "preferences"
    held_out = stats["heldout_accuracy"]
    console.print(
        f"[bold]{stats['messages']}[/] distinct messages; model trained on {stats['train_examples']} {examples} "
        f"(train accuracy {stats['train_accuracy'] or 0:.2f}"
        + (f", held-out families {held_out:.2f}" if held_out is not None else "")
        + f"); {stats['positive_share']:.0%} of the table pays; table v{stats['table_version']}"
    )


def show_labels(console: Console, api: httpx.Client, top: int) -> None:
    stats = api.get("/v1/stats").json()
    table = api.get("/v1/rewards", params={"since": 0}).json()["rewards"]
    if stats["reward_model"] != "retrieval":
        show_learned_table(console, stats, table, top)
        return
    scores = api.post("/v1/score", json={"messages": list(table)[:4096]}).json()
    rows = [r for r in scores["scores"] if r["labelled"]]
    rows.sort(key=lambda r: (r["reward"], r["score"] if r["score"] is not None else 0.0), reverse=True)
    for title, subset in (("helpful (reward 1)", [r for r in rows if r["reward"] > 0][:top]),
                          ("not helpful (reward 0)", [r for r in rows if r["reward"] <= 0][-top:])):
        out = Table(title=f"LLM labels: {title}")
        out.add_column("message")
        out.add_column("log-odds", justify="right")
        for r in subset:
            out.add_row(escape(r["message"]), "" if r["score"] is None else f"{r['score']:+.2f}")
        console.print(out)
    console.print(
        f"[bold]{stats['messages']}[/] distinct messages, [bold]{stats['labelled']}[/] labelled by "
        f"{stats['llm']} ({stats['label_mode']}), {stats['queued']} still queued, "
        f"{stats['positive_share']:.0%} of the table helpful, threshold {stats['threshold']:+.2f}, "
        f"table v{stats['table_version']}"
    )


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    console = Console()
    server = None
    url = args.server
    if url is None:
        config = ServerConfig(llm=args.llm, api_base=args.api_base, goal=args.goal, store=args.store, port=0,
                              reward_model=args.reward_model)
        console.print(f"starting a reward server with [bold]{config.llm}[/] (store {config.store}) ...")
        server = BackgroundServer(config).start()
        url = server.url
    env = OniRewardWrapper(
        gym.make(args.env), server=url, intrinsic_coef=args.intrinsic_coef,
        extrinsic_coef=args.extrinsic_coef, count_exponent=args.count_exponent, sync_interval=0.5,
        token=args.token,
    )
    api = httpx.Client(base_url=url, timeout=60,
                       headers={"Authorization": f"Bearer {args.token}"} if args.token else {})
    totals = {"extrinsic": 0.0, "intrinsic_paid": 0.0, "shaped_steps": 0, "episodes": 0}
    try:
        env.reset(seed=args.seed)
        per_round = max(1, args.steps // args.rounds)
        for round_index in range(args.rounds):
            play(env, per_round, args.seed + round_index, totals, f"round {round_index + 1}/{args.rounds}")
            wait_for_labels(env, api, args.label_timeout)
        env.close()
        show_labels(console, api, args.top)
        console.print(
            f"agent: {per_round * args.rounds} steps, {totals['episodes']} episodes finished, extrinsic "
            f"reward {totals['extrinsic']:.0f}; intrinsic reward paid on {totals['shaped_steps']} steps, "
            f"{totals['intrinsic_paid']:.3f} in total (x{args.intrinsic_coef}, scaled by "
            f"1/N^{args.count_exponent:g}); later rounds pay more as labels arrive"
        )
    finally:
        env.client.close()
        api.close()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
