"""Prompt experiments that lost to the server's default, kept runnable so their figures reproduce.

``label_quality`` measures the variants the server offers as options. This script scores
one-off changes to the default logprob prompt that are *not* options — the system prompt
dropped, the worked examples reordered, the question reworded or negated — through the
server's own judge (``LLMJudge.log_odds``: same retries, parsing and model), and prints AUC and
calibrated F1 for each, then F1 of the default prompt against the calibrated positive share
and at the best threshold in hindsight (an upper bound no online calibrator reaches).

    python -m benchmarks.prompt_trials --goal default
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

from benchmarks.common import DEV_DATA
from benchmarks.label_quality import calibrated_predictions, confusion, load_labelled, roc_auc
from reward_server.embedded_llm import DEFAULT_EMBEDDED_MODEL
from reward_server.judge import JudgeConfig, LLMJudge
from reward_server.prompts import (
    GOAL_PREFERENCES,
    SYSTEM_PROMPT,
    YES_NO_WORDS,
    logprob_messages,
    quote_message,
    worked_examples,
)

Chat = list[dict[str, str]]
HELPFUL_QUESTION = "Is this NetHack message helpful for that goal?"


def few_shot_chat(message: str, goal: str, question: str, examples: list[tuple[str, int]],
                  system: bool = True) -> Chat:
    """The default prompt's structure with the parts these trials vary."""
    ask = f"{GOAL_PREFERENCES[goal]} {question} Answer Yes or No.\nMessage: "
    chat = [{"role": "system", "content": SYSTEM_PROMPT}] if system else []
    for example, verdict in examples:
        chat.append({"role": "user", "content": ask + quote_message(example)})
        chat.append({"role": "assistant", "content": "Yes" if verdict else "No"})
    chat.append({"role": "user", "content": ask + quote_message(message)})
    return chat


def trials(goal: str) -> dict[str, tuple[Callable[[str], Chat], int]]:
    """name → (chat builder, sign): sign −1 where "Yes" means *un*helpful."""
    ex = worked_examples(goal, "paper")

    def reorder(order: list[int]) -> list[tuple[str, int]]:
        return [ex[i] for i in order]

    return {
        "paper (default)": (lambda m: logprob_messages(m, goal), 1),
        "no system prompt": (lambda m: few_shot_chat(m, goal, HELPFUL_QUESTION, ex, system=False), 1),
        "examples reversed": (lambda m: few_shot_chat(m, goal, HELPFUL_QUESTION, ex[::-1]), 1),
        "examples alternating": (lambda m: few_shot_chat(m, goal, HELPFUL_QUESTION, reorder([0, 3, 1, 2])), 1),
        "negative example first": (lambda m: few_shot_chat(m, goal, HELPFUL_QUESTION, reorder([3, 0, 1, 2])), 1),
        "concrete question": (lambda m: few_shot_chat(
            m, goal, "Does this message show that the player killed a monster, collected gold, gained a "
            "level or went down the stairs?", ex), 1),
        "'extremely helpful'": (lambda m: few_shot_chat(
            m, goal, "Is this NetHack message extremely helpful for that goal?", ex), 1),
        "negated ('useless?')": (lambda m: few_shot_chat(
            m, goal, "Is this NetHack message useless for that goal?", [(e, 1 - v) for e, v in ex]), -1),
    }


def f1_at(scores: list[float], labels: list[int], share: float) -> float:
    return confusion(calibrated_predictions(scores, share)[0], labels).f1


def best_threshold_f1(scores: list[float], labels: list[int]) -> float:
    return max(confusion([int(s >= t) for s in scores], labels).f1 for t in set(scores))


async def run(args: argparse.Namespace) -> None:
    messages, labels = load_labelled(args.data, args.goal, args.limit)
    judge = LLMJudge(JudgeConfig(model=args.llm, api_base=args.api_base, api_key=args.api_key))
    builders = trials(args.goal)
    # the trials vary the server's prompt: with nothing varied, the builder must give it exactly
    same = few_shot_chat("x", args.goal, HELPFUL_QUESTION, worked_examples(args.goal, "paper"))
    assert same == logprob_messages("x", args.goal), "few_shot_chat drifted from the server's prompt"
    print(f"{args.data}: {len(messages)} messages, {sum(labels)} helpful under goal '{args.goal}'; "
          f"llm {args.llm}; calibrated positive share {args.positive_share}")
    print("| trial | AUC | F1 (calibrated) |")
    print("| --- | --- | --- |")
    scored: dict[str, list[float]] = {}
    for name, (build, sign) in builders.items():
        scores = []
        for message in messages:
            judgement = await judge.log_odds(build(message), YES_NO_WORDS)
            scores.append(sign * judgement.score if judgement.score is not None else 0.0)
        scored[name] = scores
        print(f"| {name} | {roc_auc(scores, labels):.3f} | {f1_at(scores, labels, args.positive_share):.3f} |",
              flush=True)
    combined = [a + b for a, b in zip(scored["paper (default)"], scored["negated ('useless?')"], strict=True)]
    print(f"| paper + negated (sum of signed log-odds) | {roc_auc(combined, labels):.3f} | "
          f"{f1_at(combined, labels, args.positive_share):.3f} |")
    default = scored["paper (default)"]
    sweep = "  ".join(f"{share:.2f}: {f1_at(default, labels, share):.3f}" for share in args.shares)
    print(f"\nF1 of the default prompt by calibrated share: {sweep}")
    print(f"F1 at the best threshold in hindsight: {best_threshold_f1(default, labels):.3f}")
    await judge.aclose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEV_DATA))
    p.add_argument("--goal", default="default")
    p.add_argument("--llm", default=DEFAULT_EMBEDDED_MODEL)
    p.add_argument("--api-base")
    p.add_argument("--api-key")
    p.add_argument("--positive-share", type=float, default=0.25)
    p.add_argument("--shares", type=float, nargs="+", default=[0.20, 0.22, 0.24, 0.25, 0.26, 0.28, 0.30])
    p.add_argument("--limit", type=int, default=0, help="only the first N messages")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
