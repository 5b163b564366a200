"""Annotation quality: how well the server's LLM judge agrees with a strong judge's labels.

Runs the reward server's own judge (any ``--llm``, label mode, prompt variant, goal) over a
labelled JSON Lines file — one ``{"message": ..., "<goal>": 0|1, ...}`` per line — and prints,
per variant: ROC AUC of the judge's scores; the cut the server would set from its calibration
examples (``--calibration examples``, the default) and F1, recall and false-positive rate at that
cut; F1 at the old quota (the top ``--positive-share``) and at log-odds 0; labels/s; and the
worst confusions. ``--pairs N`` scores the ranking model's preferences on helpful-vs-unhelpful pairs.

    python -m benchmarks.label_quality --data benchmarks/data/messages_dev.jsonl --goal default
    python -m benchmarks.label_quality --data benchmarks/data/messages_agentplay_dev.jsonl
    python -m benchmarks.label_quality --llm embedded/smollm2-135m-instruct
    python -m benchmarks.label_quality --variants many-shot generate --llm hosted_vllm/... --api-base ...
    python -m benchmarks.label_quality --minihack   # every task of benchmarks/data/minihack, its goal in words

``--minihack`` measures goals written as text: each labelled MiniHack task file (``"helpful"``
under that task's goal, labelled blind by ``data/minihack/RULES.md``) against the server's judge
given the task's goal (``oni_rl.tasks.MINIHACK_GOALS``), with the cut the server sets for a goal
nobody labelled; besides the per-message figures it prints the share of the junk *steps* that
would be paid (messages weighted by how often random play showed them). ``--counterexamples K``
adds the table a user gets by naming the K junk messages paid most often as ``--goal-counterexample``.

Variants (see ``VARIANTS``): prompt style (many-shot / paper / families / compact), label words
(Yes/No, FOO/BAR, 1/0), decomposition of multi-sentence messages, an ensemble, and generate mode.
Every variant runs on the one ``--llm``; the last column is its labels/s over the ``compact``
variant's (the plain logprob question) in the same run; the target is >= 0.5 (labelling may
cost at most twice the plain question).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import DATA_DIR, DEV_DATA
from reward_server.config import ServerConfig
from reward_server.judging.embedded_llm import DEFAULT_EMBEDDED_MODEL, labelling_defaults
from reward_server.judging.judge import LLMJudge
from reward_server.judging.prompts import Goal, GoalLike, judge_calibration
from reward_server.models.calibration import ThresholdCalibrator, cut_above_counterexamples, evidence_cut
from reward_server.models.ranking import debiased_preferences
from reward_server.service import judge_config
from reward_server.storage.store import StoredPreference

# ----------------------------------------------------------------------------- metrics


def roc_auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    positives = [s for s, y in zip(scores, labels, strict=True) if y]
    negatives = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not positives or not negatives:
        return float("nan")
    # Rank-sum (Mann-Whitney U) with average ranks for ties: O(n log n).
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, y in zip(ranks, labels, strict=True) if y)
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


@dataclass(frozen=True)
class Confusion:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0

    @property
    def positive_share(self) -> float:
        return (self.tp + self.fp) / max(1, self.tp + self.fp + self.fn + self.tn)

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def fpr(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else float("nan")


def confusion(predicted: Sequence[int], labels: Sequence[int]) -> Confusion:
    pairs = list(zip(predicted, labels, strict=True))
    return Confusion(
        tp=sum(1 for p, y in pairs if p and y),
        fp=sum(1 for p, y in pairs if p and not y),
        fn=sum(1 for p, y in pairs if not p and y),
        tn=sum(1 for p, y in pairs if not p and not y),
    )


def calibrated_predictions(scores: Sequence[float], positive_share: float) -> tuple[list[int], float]:
    """Labels the server would give: its quantile calibrator fed every score seen."""
    calibrator = ThresholdCalibrator("quantile", positive_share=positive_share)
    for score in scores:
        calibrator.add(score)
    return [calibrator.label(s) for s in scores], calibrator.threshold


def zscore(values: Sequence[float]) -> list[float]:
    mean = sum(values) / len(values)
    std = (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5 or 1.0
    return [(v - mean) / std for v in values]


# ---------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class Variant:
    description: str
    label_mode: str = "logprob"
    prompt_style: str = "many-shot"
    label_words: str = "yes-no"
    decompose: bool = False
    ensemble_of: tuple[str, ...] = ()


VARIANTS: dict[str, Variant] = {
    "many-shot-decomposed": Variant("many-shot, each message of the line judged alone, best part kept "
                                    "(server default)", decompose=True),
    "many-shot": Variant("32 labelled messages to continue, Yes/No log-odds, the whole line"),
    "many-shot-foobar": Variant("many-shot, FOO/BAR label tokens", label_words="foo-bar"),
    "many-shot-onezero": Variant("many-shot, 1/0 label tokens", label_words="one-zero"),
    "paper": Variant("paper's 4 worked examples as few-shot turns, Yes/No", prompt_style="paper"),
    "compact": Variant("bare question, no examples, Yes/No (the plain logprob mode)", prompt_style="compact"),
    "families": Variant("12 message-family examples as turns, Yes/No", prompt_style="families"),
    "paper-foobar": Variant("paper examples, FOO/BAR label tokens", prompt_style="paper", label_words="foo-bar"),
    "paper-onezero": Variant("paper examples, 1/0 label tokens", prompt_style="paper", label_words="one-zero"),
    "paper-decomposed": Variant("paper examples, each message of the line judged alone", prompt_style="paper",
                                decompose=True),
    "ensemble": Variant("mean of z-scored paper and families scores", ensemble_of=("paper", "families")),
    "generate": Variant("paper chain-of-thought prompt, parse <label> FOO/BAR", label_mode="generate"),
}


@dataclass(frozen=True)
class Scored:
    scores: list[float]  # log-odds, or 0/1 labels in generate mode
    rate: float  # labels/s
    cut: float  # the server's cut (--calibration examples) for this judge; 0.5 in generate mode
    #: (score, helpful?) of each calibration message that cut came from (logprob mode)
    calibration: tuple[tuple[float, int], ...] = ()


async def score_variant(
    name: str, messages: list[str], goal: GoalLike, args: argparse.Namespace, cache: dict[str, Scored],
) -> Scored:
    """One variant's scores of the messages, its speed, and the cut the server would set."""
    variant = VARIANTS[name]
    if variant.ensemble_of:
        parts = [await score_variant(v, messages, goal, args, cache) for v in variant.ensemble_of]
        columns = [zscore(part.scores) for part in parts]
        rate = 1.0 / sum(1.0 / part.rate for part in parts)  # every member runs for every message
        return Scored([sum(c[i] for c in columns) / len(columns) for i in range(len(messages))], rate, 0.0)
    if name in cache:
        return cache[name]
    judge = LLMJudge(judge_config(server_config(
        args, label_mode=variant.label_mode, prompt_style=variant.prompt_style, label_words=variant.label_words,
        decompose=variant.decompose,
    )))
    await judge.judge("warm-up", goal)
    started = time.perf_counter()
    scores = []
    for message in messages:  # each distinct once, as the server's store asks
        j = await judge.judge(message, goal)
        scores.append(j.score if j.score is not None else float(j.label or 0))
    rate = len(messages) / (time.perf_counter() - started)
    cut = 0.5
    if variant.label_mode == "logprob":  # what the server does at start: score the held-out examples
        examples = judge_calibration(goal)  # what the server scores for its cut
        judged = [(await judge.judge(m, goal)).score for m, _ in examples]
        calibration = tuple((s, v) for s, (_, v) in zip(judged, examples, strict=True) if s is not None)
        cut = cut_from(calibration)
    cache[name] = Scored(scores, rate, cut, calibration if variant.label_mode == "logprob" else ())
    return cache[name]


def cut_from(calibration: Sequence[tuple[float, int]]) -> float:
    """The server's cut from scored calibration messages: (score, helpful?) pairs."""
    return evidence_cut([s for s, v in calibration if v], [s for s, v in calibration if not v])


def server_config(args: argparse.Namespace, **settings: object) -> ServerConfig:
    """The settings a server run with these options would have (its judge is what is measured)."""
    return ServerConfig(llm=args.llm, api_base=args.api_base or [], api_key=args.api_key,
                        llm_endpoint=args.llm_endpoint, llm_max_tokens=args.max_tokens, **settings)


def report(name: str, messages: list[str], labels: list[int], scored: Scored,
           positive_share: float, examples: int, baseline_rate: float | None = None) -> dict[str, float]:
    scores, rate = scored.scores, scored.rate
    predicted = [int(s > scored.cut) for s in scores]  # the server's default cut
    at_cut = confusion(predicted, labels)
    quota = confusion(calibrated_predictions(scores, positive_share)[0], labels)
    fixed = confusion([int(s > 0) for s in scores], labels)
    row = {
        "auc": roc_auc(scores, labels), "f1": at_cut.f1, "recall": at_cut.recall, "fpr": at_cut.fpr,
        "cut": scored.cut, "f1_quota": quota.f1, "f1_fixed0": fixed.f1, "labels_per_s": rate,
    }
    speed = f"{rate / baseline_rate:.2f}" if baseline_rate else "n/a"
    print(f"| {name} | {row['auc']:.3f} | {scored.cut:+.2f} | {row['f1']:.3f} | {row['recall']:.3f} | "
          f"{row['fpr']:.3f} | {row['f1_quota']:.3f} | {row['f1_fixed0']:.3f} | {rate:.1f} | {speed} |", flush=True)
    if examples:
        wrong_pos = sorted((s, m) for s, m, p, y in zip(scores, messages, predicted, labels, strict=True) if p and not y)
        wrong_neg = sorted((s, m) for s, m, p, y in zip(scores, messages, predicted, labels, strict=True) if y and not p)
        print(f"    false positives: {[m for _, m in wrong_pos[::-1][:examples]]}")
        print(f"    false negatives: {[m for _, m in wrong_neg[:examples]]}")
    return row


def load_labelled(path: str | Path, goal: str, limit: int = 0, key: str | None = None) -> tuple[list[str], list[int]]:
    """Messages and their 0/1 labels under ``goal`` (or in the field ``key``) from a labelled JSON Lines file."""
    key = key or goal
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    rows = [r for r in rows if key in r][: limit or None]
    return [r["message"] for r in rows], [int(r[key]) for r in rows]


MINIHACK_DATA = DATA_DIR / "minihack"


async def run_minihack(args: argparse.Namespace) -> None:
    """Per MiniHack task: the server's judge with the task's goal in words, against blind labels."""
    from oni_rl.tasks import MINIHACK_GOAL_EXAMPLES, MINIHACK_GOALS  # the trainer's goals for the tasks

    variant = args.variants[0]
    with_examples = not args.no_goal_examples
    print(f"llm {args.llm}, variant {variant}; goal: the task's text"
          f"{' and its examples of progress (MINIHACK_GOAL_EXAMPLES)' if with_examples else ' alone'}; "
          "the cut is the server's for a goal written as text (docs/reward-models.md)")
    print("| task | messages | helpful | AUC | cut | recall | FPR (messages) | junk steps paid | paid messages |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    unknown = sorted(set(args.minihack) - set(MINIHACK_GOALS))
    if unknown:
        raise SystemExit(f"no goal or labelled file for {', '.join(unknown)}; measured tasks: {', '.join(MINIHACK_GOALS)}")
    rows: list[str] = []
    named_lines: list[str] = []
    for task, text in MINIHACK_GOALS.items():
        path = MINIHACK_DATA / f"{task}.jsonl"
        if args.minihack and task not in args.minihack:
            continue
        goal = Goal(text, MINIHACK_GOAL_EXAMPLES[task] if with_examples else ())
        messages, labels = load_labelled(path, text, key="helpful")
        copied = set(goal.examples) & set(messages)
        if copied:  # the examples are the user's words for the goal, never the measured lines
            raise SystemExit(f"{task}: goal examples copied from the labelled file: {sorted(copied)}")
        counts = [int(json.loads(line)["count"]) for line in path.read_text().splitlines() if line.strip()]
        scored = await score_variant(variant, messages, goal, args, {})
        paid = [int(score > scored.cut) for score in scored.scores]
        at_cut = confusion(paid, labels)
        junk_steps = sum(c for c, y in zip(counts, labels, strict=True) if not y)
        junk_paid = sum(c for c, y, p in zip(counts, labels, paid, strict=True) if p and not y)
        print(f"| {task} | {len(messages)} | {sum(labels)} | {roc_auc(scored.scores, labels):.3f} | "
              f"{scored.cut:+.2f} | {at_cut.recall:.3f} | {at_cut.fpr:.3f} | {junk_paid / junk_steps:.4f} | "
              f"{sum(paid)} |", flush=True)
        if args.counterexamples:
            row, named = with_counterexamples(task, messages, labels, counts, scored, paid, args.counterexamples)
            rows.append(row)
            named_lines.append(f"    {task} named: {named}")
        if args.examples:
            ranked = sorted(zip(scored.scores, messages, labels, paid, strict=True), reverse=True)
            print(f"    paid: {[(m, y) for _, m, y, p in ranked if p][: args.examples]}")
            print(f"    helpful, unpaid: {[m for _, m, y, p in ranked if y and not p][: args.examples]}")
    if rows:
        print(f"\nwith --goal-counterexample: the {args.counterexamples} junk messages the table above pays most "
              "often, named as a user reading a first run's paid messages would (the cut rises above their scores; "
              "the messages are asked the same question, so their scores are the ones above)")
        print("| task | named | cut | recall | FPR (messages not named) | junk steps paid | junk steps paid, "
              "messages not named |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        print("\n".join(rows + named_lines))


def with_counterexamples(task: str, messages: list[str], labels: list[int], counts: list[int], scored: Scored,
                         paid: list[int], k: int) -> tuple[str, list[str]]:
    """One table row: the cut and what it pays once the ``k`` junk messages paid most often are
    given as counterexamples (the server adds them to the calibration messages, unhelpful); and
    those messages, most often shown first, to pass as ``--goal-counterexample``."""
    junk_paid = sorted((c, i) for i, (c, y, p) in enumerate(zip(counts, labels, paid, strict=True)) if p and not y)
    ranked = [i for _, i in junk_paid[::-1][:k]]
    named = set(ranked)
    cut = cut_above_counterexamples(cut_from([*scored.calibration, *((scored.scores[i], 0) for i in named)]),
                                    [scored.scores[i] for i in named])  # as the server sets it
    now = [int(score > cut) for score in scored.scores]
    rest = [i for i in range(len(messages)) if i not in named]
    at_cut = confusion([now[i] for i in rest], [labels[i] for i in rest])
    junk_steps = sum(c for c, y in zip(counts, labels, strict=True) if not y)
    rest_junk_steps = sum(counts[i] for i in rest if not labels[i])
    rest_paid = sum(counts[i] for i in rest if now[i] and not labels[i])
    recall = confusion(now, labels).recall
    # the named messages score at most the cut, so every junk step still paid is one not named
    return (f"| {task} | {len(named)} | {cut:+.2f} | {recall:.3f} | {at_cut.fpr:.3f} | "
            f"{rest_paid / junk_steps:.4f} | {rest_paid / max(1, rest_junk_steps):.4f} |"), [messages[i] for i in ranked]


async def run(args: argparse.Namespace) -> None:
    messages, labels = load_labelled(args.data, args.goal, args.limit)
    print(f"{args.data}: {len(messages)} messages, {sum(labels)} helpful under goal '{args.goal}'; "
          f"llm {args.llm}; the server's cut is set from its calibration examples (--calibration examples); "
          f"quota column: the top {args.positive_share:.0%} (--calibration quantile)")
    print("| variant | AUC | cut | F1 at the cut | recall | FPR | F1 at the quota | F1 (log-odds > 0) | labels/s "
          "| labels/s ÷ compact |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    cache: dict[str, Scored] = {}
    baseline_rate = None
    if "compact" in args.variants:  # timed first, so every row can be set against it
        baseline_rate = (await score_variant("compact", messages, args.goal, args, cache)).rate
    for name in args.variants:
        scored = await score_variant(name, messages, args.goal, args, cache)
        report(name, messages, labels, scored, args.positive_share, args.examples, baseline_rate)
    if args.pairs:
        accuracy, bias = await pairwise_accuracy(messages, labels, args)
        source = server_config(args, reward_model="ranking", preferences=args.preferences).preferences
        how = ("preferences from the labels' log-odds" if source == "labels" else
               f"the server's pairwise question, mean log-odds {bias:+.2f} removed")
        print(f"\nranking: {args.pairs} helpful-vs-unhelpful pairs (helpful first in every other pair), {how}: "
              f"accuracy {accuracy:.3f}")


async def pairwise_accuracy(messages: list[str], labels: list[int], args: argparse.Namespace) -> tuple[float, float]:
    """How often the ranking model's reading of the judge prefers the helpful message.

    Pairs are (helpful, unhelpful) with the helpful one first in every other pair. With
    ``--preferences pairwise`` the judge is asked the server's pairwise question and its answers
    go through :func:`debiased_preferences`, exactly as the ranking model reads them (position
    bias removed); with ``labels`` (the default for the embedded models) each message is judged
    once and P(first) = sigmoid(s_first - s_second), as the server derives it. Returns the
    accuracy and the mean log-odds of the pairwise answers (0 for labels).
    """
    rng = random.Random(0)
    helpful = sorted({m for m, y in zip(messages, labels, strict=True) if y})
    unhelpful = sorted({m for m, y in zip(messages, labels, strict=True) if not y})
    pairs = []
    for i in range(args.pairs):
        good, bad = rng.choice(helpful), rng.choice(unhelpful)
        pairs.append((good, bad) if i % 2 == 0 else (bad, good))
    config = server_config(args, reward_model="ranking", preferences=args.preferences)
    if config.preferences == "labels":
        judge = LLMJudge(judge_config(config))
        score = {m: (await judge.judge(m, args.goal)).score for m in {m for pair in pairs for m in pair}}
        margins = [((score[a] or 0.0) - (score[b] or 0.0), a in helpful) for a, b in pairs]
        right = sum((margin > 0 and first_helpful) or (margin < 0 and not first_helpful) for margin, first_helpful in margins)
        return right / args.pairs, 0.0  # a tie counts as wrong
    style = args.ranking_style or labelling_defaults(args.llm)[0]
    judge = LLMJudge(judge_config(server_config(args, prompt_style=style)))
    answers = []
    for first, second in pairs:
        j = await judge.compare(first, second, args.goal)
        answers.append(StoredPreference(first, second, j.label, j.score, j.raw))
    read = debiased_preferences(answers)
    right = sum((p.p_first > 0.5) == (p.first in helpful) for p in read)  # an unparsable pair counts as wrong
    scores = [a.score for a in answers if a.score is not None]
    return right / args.pairs, sum(scores) / len(scores) if scores else 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DEV_DATA))
    p.add_argument("--goal", default="default")
    p.add_argument("--llm", default=DEFAULT_EMBEDDED_MODEL)
    p.add_argument("--api-base", action="append", help="OpenAI-compatible server of a remote --llm (repeat for several)")
    p.add_argument("--api-key")
    p.add_argument("--llm-endpoint", choices=["auto", "chat", "completion"], default="auto",
                   help="as the server's option (auto: plain-text completion for many-shot on a server)")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                   help="default: every variant but generate (with --minihack: the server's, many-shot-decomposed)")
    p.add_argument("--positive-share", type=float, default=0.25)
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--limit", type=int, default=0, help="only the first N messages")
    p.add_argument("--examples", type=int, default=5, help="confusions to print per variant")
    p.add_argument("--pairs", type=int, default=0, help="also score the ranking judge on N random pairs")
    p.add_argument("--preferences", choices=["auto", "pairwise", "labels"], default="auto",
                   help="--pairs: how the ranking model gets preferences (as the server's option)")
    p.add_argument("--ranking-style", choices=["many-shot", "paper"],
                   help="pairwise prompt (default: the model's default style)")
    p.add_argument("--minihack", nargs="*", metavar="TASK",
                   help="measure the MiniHack tasks' labelled files (all, or those named) with each task's goal in words; "
                        "the first --variants entry is the judge")
    p.add_argument("--no-goal-examples", action="store_true",
                   help="--minihack: the goal's text alone (a goal nobody wrote examples for)")
    p.add_argument("--counterexamples", type=int, default=0, metavar="K",
                   help="--minihack: also the table with the K junk messages paid most often named as counterexamples")
    args = p.parse_args()
    if args.counterexamples < 0:
        p.error("--counterexamples is a number of messages (0 or more)")
    if args.counterexamples and args.minihack is None:
        p.error("--counterexamples measures the MiniHack tasks: add --minihack")
    if args.counterexamples and args.variants and VARIANTS[args.variants[0]].label_mode != "logprob":
        p.error("--counterexamples raises a log-odds cut: the judge must be a logprob variant")
    if args.minihack is not None:
        args.variants = args.variants or ["many-shot-decomposed"]  # the server's default judge
        asyncio.run(run_minihack(args))
    else:
        args.variants = args.variants or [v for v in VARIANTS if v != "generate"]
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
