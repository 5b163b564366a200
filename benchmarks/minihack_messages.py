"""The messages MiniHack tasks show under random play: what a reward for a task's goal is asked about.

    python -m benchmarks.minihack_messages --tasks MiniHack-KeyRoom-S15-v0 MiniHack-River-v0 --episodes 200

writes ``benchmarks/data/minihack/<task>.jsonl``: one line per distinct message, ``{"message",
"count"}`` (steps it was shown on), most frequent first. A labeller adds ``"helpful"`` (0/1) under
the task's goal by written rules (``benchmarks/data/minihack/RULES.md``), without seeing any LLM's
score; ``label_quality --minihack`` then measures the server's table against those labels.
Random play reaches few of a sparse task's late messages; ``--policy-runs`` adds the messages of
trained agents (the ``episodes`` of a run folder do not hold messages, so the run's store is read).
``--probe PICKUP SIT ...`` instead steps those commands from an episode's start and prints what
MiniHack pays for each and the message it shows.
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


def probe(task: str, commands: list[str], seed: int = 0) -> list[tuple[str, float, str]]:
    """From the start of an episode, each NLE command in turn (``PICKUP``, ``SIT``, ``N``): the
    reward MiniHack gives it and the message it shows. What a step costs is the task's, not ours
    (MiniHack charges a step without game time)."""
    from nle import nethack

    env = make_task(task)
    actions = list(env.unwrapped.actions)
    env.reset(seed=seed)
    seen = []
    for name in commands:
        action = getattr(nethack.Command, name, None) or getattr(nethack.CompassDirection, name, None)
        if action is None or action not in actions:
            raise SystemExit(f"{task} has no action {name!r}")
        obs, reward, *_ = env.step(actions.index(action))
        seen.append((name, float(reward), decode_message_bytes(obs["message"].tobytes())))
    return seen


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
    parser.add_argument("--probe", nargs="+", metavar="COMMAND",
                        help="instead: step these NLE commands from an episode's start and print reward and message")
    args = parser.parse_args()
    if args.probe:
        for task in args.tasks:
            for name, reward, message in probe(task, args.probe, args.seed):
                print(f"{task} {name}: reward {reward:+.3f}, message {message!r}")
        return
    for task in args.tasks:
        counts = random_play(task, args.episodes, args.seed)
        for run in args.policy_runs:
            counts.update(store_messages(run / "oni.sqlite"))
        path = write(task, counts)
        print(f"{task}: {len(counts)} distinct messages, {sum(counts.values())} steps with one -> {path}")


if __name__ == "__main__":
    main()
