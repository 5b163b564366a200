"""A pre-registered learning comparison: arms × seeds of the trainer, raw episodes committed, one
command that recomputes the table and the plot from those files alone.

``run`` trains every (arm, seed) that is not finished, one after another (seed by seed, so an
interrupted session leaves whole seeds of the first arms), in run folders under ``--runs``
(checkpoints; a stopped run resumes from its last checkpoint, and the episodes logged after it
are dropped first, so none is counted twice). After each run, and for a run still going when
``run`` is stopped, its ``episodes.csv`` is copied gzipped, with the run's ``config.json``, to
``benchmarks/results/<experiment>/<arm>/seed<N>/``.

An arm is a reward model (``novelty``) or ``NAME=MODEL``: the model run with this call's
settings, such as ``--goal-counterexample``, in its own folder. ``table --with EXPERIMENT/ARM``
compares an arm added later by its own protocol with a finished comparison's committed runs
(the same task, budget and training settings, checked).

``messages`` copies what each run's reward server saw (message, count, reward, LLM log-odds)
from the run folders' stores beside the raw files: what each arm's agents met; ``seen`` prints,
per run, the share of reports paid and the reports of the messages given regular expressions match.

``table`` reads only those committed files: per arm the IQM over seeds of the per-run mean of
the last ``--tail`` of the frames, with 95% percentile-bootstrap intervals resampling each arm's
seeds on its own (stratified by arm); the IQM difference and the probability of improvement of
each arm over ``--baseline``; and what the agents do (kills, gold, deepest level, episode length,
share of steps spent answering the game). Runs short of the frame budget are listed, not counted.

    python -m benchmarks.learning_evidence run --experiment rewardfree_score_300k \\
        --arms retrieval novelty none ellm-bow classification --seeds 0 1 2 3 4 --frames 300000
    python -m benchmarks.learning_evidence table --experiment rewardfree_score_300k --baseline novelty
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import re
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.aggregate import RESAMPLES, Interval, difference_interval, iqm_interval, plot_iqm_curves
from oni_rl.logbook import Episode, read_episodes
from oni_rl.tasks import is_minihack
from reward_server.storage.store import Store

if TYPE_CHECKING:
    from oni_rl.config import TrainConfig

RESULTS = Path(__file__).parent / "results"
BEHAVIOUR = ("kills", "gold", "depth", "length")
#: settings every run of one comparison shares (the arms differ only in their reward)
COMPARED = ("task", "frames", "extrinsic_coef", "intrinsic_coef", "count_exponent", "cross_episode_exponent",
            "max_episode_steps", "rollout", "workers", "envs_per_worker", "ppo", "policy")
#: settings of the intrinsic reward, which a run without one (arm ``none``) does not use
INTRINSIC = ("intrinsic_coef", "count_exponent", "cross_episode_exponent")
#: what a comparison is decided on, per run: the mean over its tail episodes
METRICS = {"score": "in-game score", "success": "success rate"}


def raw_dir(experiment: str, arm: str, seed: int) -> Path:
    return RESULTS / experiment / arm / f"seed{seed}"


# ----------------------------------------------------------------------------- running
def run(args: argparse.Namespace) -> None:
    from oni_rl.train import TrainConfig, train

    arms = parse_arms(args.arms, named_only=bool(args.goal_counterexample))
    server = {"goal_counterexample": args.goal_counterexample} if args.goal_counterexample else {}
    for seed in args.seeds:
        for arm, model in arms:
            run_dir = args.runs / args.experiment / f"{arm}-seed{seed}"
            config = TrainConfig(
                task=args.task, reward=model, server=server, frames=args.frames, seed=seed, workers=args.workers,
                envs_per_worker=args.envs_per_worker, run_dir=run_dir, resume=True,
                extrinsic_coef=args.extrinsic_coef, intrinsic_coef=args.intrinsic_coef,
                count_exponent=args.count_exponent, cross_episode_exponent=args.cross_episode_exponent,
                progress=False,
                max_episode_steps=args.max_episode_steps or (None if is_minihack(args.task) else 1000),
            )
            if frames_done(run_dir) < args.frames:
                if args.restart_unfinished and run_dir.exists():
                    print(f"{arm} seed {seed}: started over; the stopped run is kept in {set_aside(run_dir)}",
                          flush=True)
                try:
                    result = train(config)
                    print(f"{arm} seed {seed}: {result.frames:,} frames at {result.frames_per_second:.0f} frames/s",
                          flush=True)
                finally:
                    save_raw(args.experiment, arm, seed, run_dir)
            else:
                check_finished_run(run_dir, config)
                save_raw(args.experiment, arm, seed, run_dir)


def set_aside(run_dir: Path) -> Path:
    """Move a stopped run's folder to ``stopped/`` beside it (nothing is deleted); returns where."""
    n = 1
    while (aside := run_dir.parent / "stopped" / f"{run_dir.name}-{n}").exists():
        n += 1
    aside.parent.mkdir(exist_ok=True)
    return run_dir.rename(aside)


def check_finished_run(run_dir: Path, config: TrainConfig) -> None:
    """A finished run is only re-saved under the settings it was trained with: the same command
    with another reward setting must not pass it off as a run of that setting."""
    from oni_rl.resume_check import IncompatibleResume, check_resumable

    try:
        check_resumable(json.loads((run_dir / "config.json").read_text()), config.record(), run_dir)
    except IncompatibleResume as refused:
        raise SystemExit(f"{refused}\n(a finished run: name the arm NAME=MODEL to train this setting in a folder "
                         "of its own)") from None


def parse_arms(specs: Sequence[str], named_only: bool = False) -> list[tuple[str, str]]:
    """(arm, reward model) per spec, all checked before the first run (a bad last arm must not
    wait hours to fail). ``retrieval`` is the arm of that reward model; ``retrieval-named=retrieval``
    names an arm that runs the model with other settings (its folder is the name). A name of
    another model is refused (a baseline's folder must hold that baseline), and with settings that
    change the reward (``named_only``) every arm must be named: a plain ``retrieval`` would resume
    the comparison's own runs with another reward."""
    from reward_server.models.registry import REWARD_MODELS

    models = {*REWARD_MODELS, "none"}
    arms = []
    for spec in specs:
        arm, sep, model = spec.partition("=")
        model = model if sep else arm
        if not arm or "/" in arm or not model:
            raise SystemExit(f"an arm is a reward model or NAME=MODEL, not {spec!r}")
        if model not in models:
            raise SystemExit(f"arm {spec!r}: no reward model {model!r}; choose one of {', '.join(sorted(models))}")
        if arm in models and arm != model:
            raise SystemExit(f"arm {spec!r}: {arm} is the name of another reward model's arm")
        if named_only and arm == model:
            raise SystemExit(f"arm {spec!r}: with --goal-counterexample every arm needs a name of its own "
                             f"(e.g. {model}-named={model}), or it would resume the plain {model} runs")
        arms.append((arm, model))
    names = [arm for arm, _ in arms]
    if len(set(names)) < len(names):
        raise SystemExit(f"two arms share a name (a folder): {' '.join(specs)}")
    return arms


def frames_done(run_dir: Path) -> int:
    """Frames of a run's last checkpoint (0 if none)."""
    checkpoint = run_dir / "checkpoint.pt"
    if not checkpoint.exists():
        return 0
    import torch

    return int(torch.load(checkpoint, weights_only=True, map_location="cpu")["frames"])


def save_raw(experiment: str, arm: str, seed: int, run_dir: Path) -> None:
    """Copy a run's episodes (gzipped, only those up to its checkpoint) and its own config.json (the
    settings it trained under, secrets masked) to the results, with the frames it finished and the
    frames of each resume (``resumed_at``: a resumed run restarts what its envs keep in memory,
    such as the wrappers' cross-episode counts)."""
    source = run_dir / "episodes.csv"
    if not source.exists():
        return
    done = frames_done(run_dir)
    target = raw_dir(experiment, arm, seed)
    target.mkdir(parents=True, exist_ok=True)
    lines = source.read_text().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    kept = [row for row in rows if int(row.split(",", 1)[0]) <= done]  # after the checkpoint: redone on resume
    # mtime 0: the same episodes give the same bytes, so re-saving a finished run changes nothing in git
    data = "".join([header, *kept]).encode()
    (target / "episodes.csv.gz").write_bytes(gzip.compress(data, mtime=0))
    settings = json.loads((run_dir / "config.json").read_text())
    local = f"runs/{experiment}/{run_dir.name}"
    store = (settings.get("server") or {}).get("store")
    if store and Path(store).resolve().parent == run_dir.resolve():  # no path of this machine in the results
        settings["server"]["store"] = f"{local}/{Path(store).name}"
    settings["run_dir"] = local
    resumes = run_dir / "resumes.csv"
    resumed_at = [int(line) for line in resumes.read_text().split()[1:]] if resumes.exists() else []
    record = {"frames_done": done, **settings, "resumed_at": [f for f in resumed_at if f <= done]}
    (target / "config.json").write_text(json.dumps(record, indent=2, default=str) + "\n")


def save_messages(experiment: str, runs: Path) -> list[Path]:
    """Each run's messages as its reward server saw them, beside its raw episodes: text, how often
    the envs reported it, the reward the table last held and the LLM's log-odds (if asked). What
    the agents of each arm met, from the run folders' stores (which are not committed)."""
    written = []
    for store in sorted((runs / experiment).glob("*-seed*/oni.sqlite")):
        arm, _, seed = store.parent.name.rpartition("-seed")
        target = raw_dir(experiment, arm, int(seed))
        if not target.is_dir():
            continue
        with Store(store, readonly=True) as reader:  # a run's store holds one question's answers
            scores = {answer.text: answer.score for _, answer in reader.annotated_keys()}
            rows = [(text, count, reward, scores.get(text)) for text, count, reward in reader.reported_messages()]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["message", "count", "reward", "llm_log_odds"])
        writer.writerows(rows)
        (target / "messages.csv.gz").write_bytes(gzip.compress(out.getvalue().encode(), mtime=0))
        written.append(target / "messages.csv.gz")
    return written


def seen(experiment: str, patterns: Sequence[str]) -> None:
    """Per run, from its committed ``messages.csv.gz``: its reports, the share of them whose message
    was paid, and for each regular expression the reports of the messages it matches (how many
    distinct ones: each distinct message's first report came before its label) and the range of
    the judge's log-odds over them."""
    for path in sorted((RESULTS / experiment).glob("*/seed*/messages.csv.gz")):
        frames = int(json.loads((path.parent / "config.json").read_text())["frames_done"])
        with gzip.open(path, "rt", newline="") as handle:
            rows = [(r["message"], int(r["count"]), float(r["reward"] or 0), r["llm_log_odds"])
                    for r in csv.DictReader(handle)]
        reports = sum(row[1] for row in rows)
        paid = sum(count for _, count, reward, _ in rows if reward > 0)
        cells = []
        for pattern in patterns:
            matched = [(count, score) for text, count, _, score in rows if re.search(pattern, text)]
            total = sum(count for count, _ in matched)
            scores = [float(score) for _, score in matched if score]
            odds = f", log-odds {min(scores):+.2f} to {max(scores):+.2f}" if scores else ""
            cells.append(f"{pattern!r} {total:,} ({len(matched)} distinct, {total / frames:.1%} of frames{odds})")
        print(f"{path.parent.parent.name} {path.parent.name}: {reports:,} reports in {frames:,} frames, "
              f"{paid:,} paid ({paid / max(1, reports):.1%} of reports, {paid / max(1, frames):.2f} per frame); "
              + "; ".join(cells))


# ------------------------------------------------------------------------------- table
def load(experiment: str, borrowed: Sequence[str] = ()) -> tuple[
        dict[str, dict[int, list[Episode]]], dict[str, dict[int, int]], int]:
    """Every committed run: arm → seed → episodes, arm → seed → frames done, and the budget.
    ``borrowed`` arms (``EXPERIMENT/ARM``) are read from another experiment's committed runs: a
    protocol that adds an arm to a finished comparison compares it with that comparison's runs.
    The intrinsic reward's settings are not compared for runs without one (arm ``none``): a
    protocol that changes only them may borrow a finished comparison's task-reward-only runs."""
    from oni_rl.resume_check import OLDER_DEFAULTS

    paths = sorted((RESULTS / experiment).glob("*/seed*/config.json"))
    names = {path.parent.parent.name for path in paths}
    for spec in borrowed:
        other, sep, arm = spec.partition("/")
        if not sep or not other or not arm or "/" in arm:
            raise SystemExit(f"--with takes EXPERIMENT/ARM, not {spec!r}")
        found = sorted((RESULTS / other / arm).glob("seed*/config.json"))
        if not found:
            raise SystemExit(f"--with {spec}: no committed runs under {RESULTS / other / arm}")
        if arm in names:
            raise SystemExit(f"--with {spec}: an arm {arm} is loaded already")
        names.add(arm)
        paths += found
    runs: dict[str, dict[int, list[Episode]]] = {}
    done: dict[str, dict[int, int]] = {}
    settings: dict[str, set[str]] = {}
    for config_path in paths:
        config = json.loads(config_path.read_text())
        arm, seed = config_path.parent.parent.name, int(config_path.parent.name.removeprefix("seed"))
        for name in COMPARED:
            if name in INTRINSIC and config.get("reward") == "none":
                continue
            value = config.get(name, OLDER_DEFAULTS.get(name))  # a setting added since the run
            settings.setdefault(name, set()).add(json.dumps(value, sort_keys=True))
        runs.setdefault(arm, {})[seed] = read_episodes(config_path.parent / "episodes.csv.gz")
        done.setdefault(arm, {})[seed] = int(config["frames_done"])
    differing = [name for name, values in settings.items() if len(values) > 1]
    if differing:
        raise SystemExit(f"these runs differ in {', '.join(differing)}: one comparison needs the same task, "
                         "budget and training settings in every arm")
    budgets = settings.get("frames", set())
    return runs, done, int(json.loads(next(iter(budgets)))) if budgets else 0


def tail(episodes: list[Episode], frames: int, share: float) -> list[Episode]:
    return [e for e in episodes if e.frames >= (1 - share) * frames]


def run_figures(episodes: list[Episode]) -> dict[str, float]:
    """One run's figures over its tail episodes."""
    figures = {"score": statistics.mean(e.score for e in episodes), "success": statistics.mean(e.success for e in episodes)}
    figures |= {name: statistics.mean(getattr(e, name) for e in episodes) for name in BEHAVIOUR}
    figures["menu_share"] = sum(e.menu_steps for e in episodes) / max(1, sum(e.length for e in episodes))
    figures["intrinsic_return"] = statistics.mean(e.intrinsic_return for e in episodes)
    return figures


def episode_counts(episodes: list[Episode]) -> str:
    """Episodes, successes (and when the last one ended) and mean length: what a success rate
    near 0 is made of, and whether a run's few wins came early (a random start) or late."""
    wins = [e.frames for e in episodes if e.success > 0]
    last = f" (last at {max(wins):,} frames)" if wins else ""
    return f"episodes {len(episodes)}, successes {len(wins)}{last}, length {statistics.mean(e.length for e in episodes):.0f}"


def probability_of_improvement(x: Sequence[float], y: Sequence[float]) -> Interval:
    """P(X > Y) for a random run of each arm (ties count half), with a 95% bootstrap interval that
    resamples each arm's seeds on its own."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)

    def statistic(p: np.ndarray, q: np.ndarray) -> float:
        diff = p[:, None] - q[None, :]
        return float(np.mean((diff > 0) + 0.5 * (diff == 0)))

    rng = np.random.default_rng(0)
    samples = [statistic(rng.choice(a, len(a)), rng.choice(b, len(b))) for _ in range(RESAMPLES)]
    low, high = np.percentile(samples, [2.5, 97.5])
    return Interval(statistic(a, b), float(low), float(high))


def decide(arm: Sequence[float], baseline: Sequence[float], min_seeds: int,
           unsolved: bool = False) -> tuple[Interval | None, str]:
    """The pre-registered rule for one pair: IQM(arm) − IQM(baseline) with its 95% interval, and
    what it decides: above 0 (the arm wins), below 0 (the baseline wins), or a tie. An arm short
    of ``min_seeds`` decides nothing, and neither does an experiment where every run scored 0
    (``unsolved``): an interval of [0, 0] there would read as a tie between arms that never met
    the task. A protocol's "every arm at 0" is read strictly, as every run of every arm at 0: an
    arm with one seed above 0 has an IQM of 0 over five seeds, yet it met the task, so its pairs
    are decided by their intervals."""
    delta = difference_interval(arm, baseline) if len(arm) > 1 and len(baseline) > 1 else None
    if min(len(arm), len(baseline)) < min_seeds:
        return delta, f"fewer than {min_seeds} seeds: no verdict"
    if unsolved:
        return delta, "every arm at 0: decides nothing"
    if delta is None:
        return None, "one seed: no interval, no verdict"
    if delta.low > 0:
        return delta, "above 0: the arm wins"
    if delta.high < 0:
        return delta, "below 0: the baseline wins"
    return delta, "includes 0: a tie"


def table(args: argparse.Namespace) -> None:
    runs, done, budget = load(args.experiment, args.borrowed)
    if not runs:
        raise SystemExit(f"no runs under {RESULTS / args.experiment}")
    if args.borrowed:
        print(f"arms from other experiments' committed runs: {', '.join(args.borrowed)}")
    finished = {arm: {s: eps for s, eps in seeds.items() if done[arm][s] >= budget} for arm, seeds in runs.items()}
    short = [f"{arm} seed {s} ({done[arm][s]:,})" for arm in runs for s in runs[arm] if done[arm][s] < budget]
    print(f"{args.experiment}: {budget:,} frames per run, last {args.tail:.0%} of frames; "
          f"finished runs per arm: {', '.join(f'{a} {len(s)}' for a, s in finished.items())}")
    if short:
        print(f"not counted (short of {budget:,} frames): {'; '.join(short)}")
    empty = [f"{arm} seed {s}" for arm, seeds in finished.items() for s, eps in seeds.items()
             if not tail(eps, budget, args.tail)]
    if empty:
        print(f"not counted (no episode ended in the last {args.tail:.0%}): {'; '.join(empty)}")
    figures = {arm: {s: run_figures(window) for s, eps in seeds.items() if (window := tail(eps, budget, args.tail))}
               for arm, seeds in finished.items()}
    figures = {arm: seeds for arm, seeds in figures.items() if seeds}
    incomplete = {arm for arm, seeds in figures.items() if len(seeds) < args.min_seeds}
    if incomplete:
        print(f"incomplete (fewer than {args.min_seeds} seeds: reported, no verdict): {', '.join(sorted(incomplete))}")
    metric, named = args.metric, METRICS[args.metric]
    print(f"\n| arm | seeds | IQM {named} [95% CI] | kills | gold | deepest level | episode length "
          "| steps answering the game | intrinsic return |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for arm, seeds in figures.items():
        column = {name: [f[name] for f in seeds.values()] for name in next(iter(seeds.values()))}
        cells = [str(iqm_interval(column[metric]))]
        cells += [f"{float(np.mean(column[name])):.2f}" for name in ("kills", "gold", "depth")]
        menus = float(np.mean(column["menu_share"]))  # NaN on MiniHack: it does not show NLE's misc
        cells += [f"{float(np.mean(column['length'])):.0f}", "n/a" if np.isnan(menus) else f"{menus:.1%}",
                  f"{float(np.mean(column['intrinsic_return'])):.2f}"]
        print(f"| {arm} | {len(seeds)} | " + " | ".join(cells) + " |")
    print("(behaviour columns: mean over seeds of each run's mean over its tail episodes)")
    print(f"\nper run: {named} over its tail; tail and whole run: episodes, successes (the last one's frames), "
          "mean episode length; whole run: episodes paid intrinsic reward")
    for arm, seeds in figures.items():
        for seed, run in seeds.items():
            episodes = finished[arm][seed]
            print(f"  {arm} seed {seed}: {run[metric]:.2f}; tail {episode_counts(tail(episodes, budget, args.tail))}; "
                  f"whole run {episode_counts(episodes)}, paid {sum(e.intrinsic_return > 0 for e in episodes)}")
    scores = {arm: [f[metric] for f in seeds.values()] for arm, seeds in figures.items()}
    unsolved = not incomplete and not any(any(values) for values in scores.values())
    if unsolved:
        print(f"\nevery run of every arm has {named} 0: this experiment decides nothing (unsolved at this budget)")
    for baseline in args.baseline:
        if baseline not in figures or len(figures) < 2:
            continue
        print(f"\nagainst {baseline}: IQM difference of the {named} [95% CI] and P(arm > {baseline}) [95% CI]")
        for arm in figures:
            if arm == baseline:
                continue
            delta, verdict = decide(scores[arm], scores[baseline], args.min_seeds, unsolved)
            print(f"  {arm} − {baseline}: {delta or 'an arm with one seed: no interval'} ({verdict}); "
                  f"P(improvement) {probability_of_improvement(scores[arm], scores[baseline])}")
    curves = {arm: [runs[arm][s] for s in seeds] for arm, seeds in finished.items() if seeds}
    names = ((metric, named), ("extrinsic_return", "task return"), ("intrinsic_return", "intrinsic return"))
    plot = plot_iqm_curves(curves, budget, RESULTS / args.experiment / f"iqm_{metric}.png",
                           f"{args.experiment}: IQM over seeds of the {named}", names=names)
    print(f"\nplot: {plot.relative_to(Path.cwd()) if plot.is_relative_to(Path.cwd()) else plot}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train the runs that are not finished, saving their raw episodes")
    r.add_argument("--experiment", required=True)
    r.add_argument("--arms", nargs="+", required=True,
                   help="reward models, or NAME=MODEL for an arm that runs a model with this call's settings")
    r.add_argument("--goal-counterexample", action="append", default=[], metavar="TEXT",
                   help="a message of the task that is not progress, for every arm's server (repeat)")
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    r.add_argument("--frames", type=int, default=300_000)
    r.add_argument("--task", default="NetHackScore-v0")
    r.add_argument("--extrinsic-coef", type=float, default=0.0)
    r.add_argument("--intrinsic-coef", type=float, default=0.4)
    r.add_argument("--count-exponent", type=float, default=3.0)
    r.add_argument("--cross-episode-exponent", type=float, default=0.0,
                   help="gamma: a message paid in E earlier episodes of the env pays 1/(1+E)^gamma")
    r.add_argument("--restart-unfinished", action="store_true",
                   help="start a stopped run over instead of resuming it (its folder is kept under stopped/): for "
                        "settings whose state lives in the envs' memory, such as the cross-episode decay's counts")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--envs-per-worker", type=int, default=4)
    r.add_argument("--max-episode-steps", type=int, default=None,
                   help="default: 1000 on NetHack tasks (the registered Score protocol), a MiniHack task's own")
    r.add_argument("--runs", type=Path, default=Path("runs"), help="run folders (checkpoints)")
    t = sub.add_parser("table", help="the table and plot, from the committed raw files alone")
    t.add_argument("--experiment", required=True)
    t.add_argument("--metric", choices=list(METRICS), default="score",
                   help="what the IQM is of: NetHack's in-game score, or the success rate (MiniHack)")
    t.add_argument("--baseline", nargs="+", default=["novelty", "none"])
    t.add_argument("--tail", type=float, default=0.2, help="share of the frames at the end that is reported")
    t.add_argument("--min-seeds", type=int, default=5, help="seeds an arm needs before a comparison decides")
    t.add_argument("--with", dest="borrowed", action="append", default=[], metavar="EXPERIMENT/ARM",
                   help="also an arm of another experiment's committed runs (repeat)")
    m = sub.add_parser("messages", help="copy each run's message counts (from its store) beside its raw files")
    m.add_argument("--experiment", required=True)
    m.add_argument("--runs", type=Path, default=Path("runs"), help="run folders (their oni.sqlite)")
    w = sub.add_parser("seen", help="per run, from the committed messages files: reports, share paid, matches")
    w.add_argument("--experiment", required=True)
    w.add_argument("--match", action="append", default=[], metavar="REGEX", help="messages to count (repeat)")
    args = p.parse_args()
    if args.command == "seen":
        seen(args.experiment, args.match)
        return
    if args.command == "messages":
        for path in save_messages(args.experiment, args.runs):
            print(path)
        return
    run(args) if args.command == "run" else table(args)


if __name__ == "__main__":
    main()
