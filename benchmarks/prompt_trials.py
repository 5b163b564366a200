"""Prompt experiments that are not server options, kept runnable so their figures reproduce.

``label_quality`` measures the variants the server offers as options. This script scores
one-off changes to a logprob prompt through the server's own judge (``LLMJudge.log_odds``:
same retries, parsing and model) and prints AUC and calibrated F1 for each. Two sets:

* ``--prompt many-shot`` (default model, Gemma 3 270M): is the default's figure an accident of
  its example order or length? The list reshuffled with five seeds, reversed, and cut to its
  first 16 and 24 examples; each scored on whole lines and part by part (the server's default,
  ``--decompose``: the best of the line's messages, each asked once).
* ``--prompt paper`` (SmolLM2-135M-Instruct, the earlier default): the paper prompt with its
  system prompt dropped, its worked examples reordered, its question reworded or negated.

Both end with F1 of the base prompt against the calibrated positive share and at the best
threshold in hindsight (an upper bound no online calibrator reaches).

    python -m benchmarks.prompt_trials --prompt many-shot
    python -m benchmarks.prompt_trials --prompt paper
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
from collections.abc import Callable

from benchmarks.common import DEV_DATA
from benchmarks.label_quality import calibrated_predictions, confusion, load_labelled, roc_auc
from reward_server.judging.decompose import best_part, split_messages
from reward_server.judging.embedded_llm import DEFAULT_EMBEDDED_MODEL, EMBEDDED_PROVIDER
from reward_server.judging.judge import JudgeConfig, LLMJudge
from reward_server.judging.prompts import (
    GOAL_PREFERENCES,
    SYSTEM_PROMPT,
    YES_NO_WORDS,
    logprob_messages,
    many_shot_text,
    quote_message,
    worked_examples,
)

Chat = list[dict[str, str]]
Trials = dict[str, tuple[Callable[[str], Chat], int]]
HELPFUL_QUESTION = "Is this NetHack message helpful for that goal?"
DEFAULT_LLM = {"many-shot": DEFAULT_EMBEDDED_MODEL, "paper": f"{EMBEDDED_PROVIDER}/smollm2-135m-instruct"}
SHUFFLE_SEEDS = (1, 2, 3, 4, 5)


def few_shot_chat(message: str, goal: str, question: str, examples: list[tuple[str, int]],
                  system: bool = True) -> Chat:
    """The paper prompt's structure with the parts these trials vary."""
    ask = f"{GOAL_PREFERENCES[goal]} {question} Answer Yes or No.\nMessage: "
    chat = [{"role": "system", "content": SYSTEM_PROMPT}] if system else []
    for example, verdict in examples:
        chat.append({"role": "user", "content": ask + quote_message(example)})
        chat.append({"role": "assistant", "content": "Yes" if verdict else "No"})
    chat.append({"role": "user", "content": ask + quote_message(message)})
    return chat


def paper_trials(goal: str) -> Trials:
    """name → (chat builder, sign): sign −1 where "Yes" means *un*helpful. The first is the base."""
    ex = worked_examples(goal, "paper")

    def reorder(order: list[int]) -> list[tuple[str, int]]:
        return [ex[i] for i in order]

    return {
        "paper": (lambda m: logprob_messages(m, goal, style="paper"), 1),
        "no system prompt": (lambda m: few_shot_chat(m, goal, HELPFUL_QUESTION, ex, system=False), 1),
        "examples reversed": (lambda m: few_shot_chat(m, goal, HELPFUL_QUESTION, ex[::-1]), 1),
        "examples alternating": (lambda m: few_shot_chat(m, goal, HELPFUL_QUESTION, reorder([0, 3, 1, 2])), 1),
        "negative example first": (lambda m: few_shot_chat(m, goal, HELPFUL_QUESTION, reorder([3, 0, 1, 2])), 1),
        "concrete question": (lambda m: few_shot_chat(
            m, goal, "Does this message show that the player killed a monster, collected gold, gained a "
            "level or went down the stairs?", ex), 1),
        "'extremely helpful'": (lambda m: few_shot_chat(
            m, goal, "Is this NetHack message extremely helpful for that goal?", ex), 1),
        "no system prompt, 'extremely helpful'": (lambda m: few_shot_chat(
            m, goal, "Is this NetHack message extremely helpful for that goal?", ex, system=False), 1),
        "negated ('useless?')": (lambda m: few_shot_chat(
            m, goal, "Is this NetHack message useless for that goal?", [(e, 1 - v) for e, v in ex]), -1),
    }


def shuffled(examples: list[tuple[str, int]], seed: int) -> list[tuple[str, int]]:
    out = list(examples)
    random.Random(seed).shuffle(out)
    return out


def many_shot_trials(goal: str) -> Trials:
    """The default many-shot prompt, then the same list in other orders and shorter."""
    ex = worked_examples(goal, "many-shot")

    def chat(examples: list[tuple[str, int]]) -> Callable[[str], Chat]:
        return lambda m: [{"role": "user", "content": many_shot_text(m, goal, YES_NO_WORDS, examples)}]

    trials: Trials = {"many-shot": (lambda m: logprob_messages(m, goal, style="many-shot"), 1)}
    for seed in SHUFFLE_SEEDS:
        trials[f"reshuffled, seed {seed}"] = (chat(shuffled(ex, seed)), 1)
    trials["reversed"] = (chat(ex[::-1]), 1)
    trials["first 16 examples"] = (chat(ex[:16]), 1)
    trials["first 24 examples"] = (chat(ex[:24]), 1)
    return trials


def f1_at(scores: list[float], labels: list[int], share: float) -> float:
    return confusion(calibrated_predictions(scores, share)[0], labels).f1


def best_threshold_f1(scores: list[float], labels: list[int]) -> float:
    return max(confusion([int(s >= t) for s in scores], labels).f1 for t in set(scores))


async def run(args: argparse.Namespace) -> None:
    messages, labels = load_labelled(args.data, args.goal, args.limit)
    llm = args.llm or DEFAULT_LLM[args.prompt]
    judge = LLMJudge(JudgeConfig(llm=llm, api_base=args.api_base, api_key=args.api_key))
    builders = many_shot_trials(args.goal) if args.prompt == "many-shot" else paper_trials(args.goal)
    if args.prompt == "paper":  # the trials vary the server's prompt: unvaried, the builder must give it exactly
        same = few_shot_chat("x", args.goal, HELPFUL_QUESTION, worked_examples(args.goal, "paper"))
        assert same == logprob_messages("x", args.goal, style="paper"), "few_shot_chat drifted from the server's prompt"
    print(f"{args.data}: {len(messages)} messages, {sum(labels)} helpful under goal '{args.goal}'; "
          f"llm {llm}; calibrated positive share {args.positive_share}")
    by_parts = args.prompt == "many-shot"
    print("| trial | AUC | F1 (calibrated) |" + (" AUC, part by part | F1, part by part |" if by_parts else ""))
    print("| --- | --- | --- |" + (" --- | --- |" if by_parts else ""))
    scored: dict[str, list[float]] = {}
    parts_scored: dict[str, list[float]] = {}
    for name, (build, sign) in builders.items():
        asked: dict[str, float | None] = {}

        async def score(text: str, build: Callable[[str], Chat] = build, sign: int = sign,
                        asked: dict[str, float | None] = asked) -> float | None:
            if text not in asked:
                judgement = await judge.log_odds(build(text), YES_NO_WORDS)
                asked[text] = None if judgement.score is None else sign * judgement.score
            return asked[text]

        scored[name] = [await score(m) or 0.0 for m in messages]
        row = f"| {name} | {roc_auc(scored[name], labels):.3f} | {f1_at(scored[name], labels, args.positive_share):.3f} |"
        if by_parts:
            parts_scored[name] = [best_part([await score(p) for p in split_messages(m)]) or 0.0 for m in messages]
            row += (f" {roc_auc(parts_scored[name], labels):.3f} |"
                    f" {f1_at(parts_scored[name], labels, args.positive_share):.3f} |")
        print(row, flush=True)
    base_name = next(iter(builders))
    base = scored[base_name]
    if args.prompt == "paper":
        combined = [a + b for a, b in zip(base, scored["negated ('useless?')"], strict=True)]
        print(f"| paper + negated (sum of signed log-odds) | {roc_auc(combined, labels):.3f} | "
              f"{f1_at(combined, labels, args.positive_share):.3f} |")
    else:
        names = [base_name] + [f"reshuffled, seed {seed}" for seed in SHUFFLE_SEEDS]
        for how, table in (("whole lines", scored), ("part by part", parts_scored)):
            aucs = [roc_auc(table[n], labels) for n in names]
            f1s = [f1_at(table[n], labels, args.positive_share) for n in names]
            print(f"\n{how}, over the default order and {len(SHUFFLE_SEEDS)} reshuffles: AUC "
                  f"{statistics.mean(aucs):.3f} ± {statistics.stdev(aucs):.3f} (min {min(aucs):.3f}), "
                  f"F1 {statistics.mean(f1s):.3f} ± {statistics.stdev(f1s):.3f} (min {min(f1s):.3f})")
    sweep = "  ".join(f"{share:.2f}: {f1_at(base, labels, share):.3f}" for share in args.shares)
    print(f"\nF1 of '{base_name}' by calibrated share: {sweep}")
    print(f"F1 at the best threshold in hindsight: {best_threshold_f1(base, labels):.3f}")
    await judge.aclose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompt", choices=["many-shot", "paper"], default="many-shot",
                   help="which prompt the trials vary")
    p.add_argument("--data", default=str(DEV_DATA))
    p.add_argument("--goal", default="default")
    p.add_argument("--llm", help="litellm model string (default: the model the trial set was measured on)")
    p.add_argument("--api-base")
    p.add_argument("--api-key")
    p.add_argument("--positive-share", type=float, default=0.25)
    p.add_argument("--shares", type=float, nargs="+", default=[0.20, 0.22, 0.24, 0.25, 0.26, 0.28, 0.30])
    p.add_argument("--limit", type=int, default=0, help="only the first N messages")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
