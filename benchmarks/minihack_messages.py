"""The messages MiniHack tasks show under random play: what a reward for a task's goal is asked about.

    python -m benchmarks.minihack_messages --tasks MiniHack-KeyRoom-S15-v0 MiniHack-River-v0 --episodes 200

writes ``benchmarks/data/minihack/<task>.jsonl``: one line per distinct message, ``{"message",
"count"}`` (steps it was shown on), most frequent first. A labeller adds ``"helpful"`` (0/1) under
the task's goal by written rules (``benchmarks/data/minihack/RULES.md``), without seeing any LLM's
score; ``label_quality --minihack`` then measures the server's table against those labels.
Random play reaches few of a sparse task's late messages; ``--policy-runs`` adds the messages of
trained agents (the ``episodes`` of a run folder do not hold messages, so the run's store is read).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from oni_rl.tasks import make_task
from oni_wrappers.messages import decode_message_bytes
from reward_server.storage.store import Store

OUT = Path(__file__).parent / "data" / "minihack"


def random_play(task: str, episodes: int, seed: int = 0) -> Counter[str]:
    """Distinct non-empty messages of ``episodes`` random-action episodes, with step counts."""
    env = make_task(task)
    env.action_space.seed(seed)
    counts: Counter[str] = Counter()
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            message = decode_message_bytes(obs["message"].tobytes())
            if message:
                counts[message] += 1
            done = terminated or truncated
    env.close()
    return counts


def store_messages(store: Path) -> Counter[str]:
    """The messages a run's reward server saw, with how often (its store's counts)."""
    with Store(store, readonly=True) as reader:
        return Counter({text: count for text, count, _ in reader.reported_messages()})


def write(task: str, counts: Counter[str], out: Path = OUT) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{task}.jsonl"
    with path.open("w") as f:
        for message, count in counts.most_common():
            f.write(json.dumps({"message": message, "count": count}) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", required=True)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--policy-runs", nargs="*", type=Path, default=[],
                        help="run folders of the same task whose store's messages are added")
    args = parser.parse_args()
    for task in args.tasks:
        counts = random_play(task, args.episodes, args.seed)
        for run in args.policy_runs:
            counts.update(store_messages(run / "oni.sqlite"))
        path = write(task, counts)
        print(f"{task}: {len(counts)} distinct messages, {sum(counts.values())} steps with one -> {path}")


if __name__ == "__main__":
    main()
