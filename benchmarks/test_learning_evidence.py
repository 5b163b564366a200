"""The decision rules of benchmarks/learning_evidence.py, as its protocols state them."""

import gzip
import json
from pathlib import Path

import pytest

from benchmarks import learning_evidence
from benchmarks.aggregate import difference_interval
from benchmarks.learning_evidence import decide


def test_a_clear_gap_is_a_win_and_its_mirror_a_loss():
    high, low = [5.0, 6.0, 7.0, 6.5, 5.5], [1.0, 2.0, 1.5, 0.5, 1.2]
    delta, verdict = decide(high, low, min_seeds=5)
    assert delta is not None and delta.low > 0 and verdict.startswith("above 0")
    _, verdict = decide(low, high, min_seeds=5)
    assert verdict.startswith("below 0")


def test_overlapping_arms_tie():
    _, verdict = decide([1.0, 3.0, 2.0, 5.0, 0.0], [2.0, 1.0, 4.0, 0.5, 3.0], min_seeds=5)
    assert verdict == "includes 0: a tie"


def test_an_arm_short_of_its_seeds_decides_nothing_even_with_a_gap():
    delta, verdict = decide([9.0, 9.5, 10.0], [0.0, 0.1, 0.2, 0.0, 0.1], min_seeds=5)
    assert delta is not None and delta.low > 0  # the interval is still shown
    assert "no verdict" in verdict


def test_one_seed_has_no_interval():
    delta, verdict = decide([1.0], [0.0], min_seeds=5)
    assert delta is None and "no verdict" in verdict
    delta, verdict = decide([1.0], [0.0], min_seeds=1)  # a pilot's setting: still no interval to decide on
    assert delta is None and verdict == "one seed: no interval, no verdict"


def test_every_arm_at_zero_decides_nothing_instead_of_a_tie():
    zeros = [0.0] * 5
    delta, verdict = decide(zeros, zeros, min_seeds=5, unsolved=True)
    assert (delta.point, delta.low, delta.high) == (0.0, 0.0, 0.0)  # not NaN from a degenerate bootstrap
    assert verdict == "every arm at 0: decides nothing"


def test_two_constant_arms_have_an_exact_interval():
    interval = difference_interval([0.25] * 5, [0.0] * 5)
    assert (interval.point, interval.low, interval.high) == (0.25, 0.25, 0.25)


def test_each_run_s_messages_are_copied_from_its_store_most_reported_first(tmp_path, monkeypatch):
    import gzip

    from benchmarks import learning_evidence
    from reward_server.storage.store import Annotation, AnnotationKey, Store

    monkeypatch.setattr(learning_evidence, "RESULTS", tmp_path / "results")
    (tmp_path / "results" / "exp" / "retrieval" / "seed3").mkdir(parents=True)
    run = tmp_path / "runs" / "exp" / "retrieval-seed3"
    run.mkdir(parents=True)
    with Store(run / "oni.sqlite") as store:
        store.add_messages({"It's a wall.": 30, "g - a key.": 2})
        store.add_annotations(AnnotationKey("a goal in words here", "v1", "m", "logprob"),
                              [Annotation("g - a key.", 1, 0.5, "Yes")])
        store.publish({"g - a key.": 1.0, "It's a wall.": 0.0})
    (tmp_path / "runs" / "exp" / "novelty-seed9").mkdir()  # a run without committed raw files: skipped
    with Store(tmp_path / "runs" / "exp" / "novelty-seed9" / "oni.sqlite") as store:
        store.add_messages({"It's a wall.": 1})
    written = learning_evidence.save_messages("exp", tmp_path / "runs")
    assert [p.parent.name for p in written] == ["seed3"]
    assert gzip.decompress(written[0].read_bytes()).decode().splitlines() == [
        "message,count,reward,llm_log_odds", "It's a wall.,30,0.0,", "g - a key.,2,1.0,0.5"]


def test_seen_counts_reports_paid_share_and_matches_from_the_committed_files(tmp_path, monkeypatch, capsys):
    import gzip
    import json

    from benchmarks import learning_evidence

    monkeypatch.setattr(learning_evidence, "RESULTS", tmp_path)
    run = tmp_path / "exp" / "retrieval" / "seed0"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"frames_done": 1000}))
    rows = "message,count,reward,llm_log_odds\nIt's a wall.,300,0.0,-1.5\n\"g - a key, named K.\",1,1.0,0.5\nh - a key.,3,1.0,0.4\n"
    (run / "messages.csv.gz").write_bytes(gzip.compress(rows.encode()))
    learning_evidence.seen("exp", [r"^[a-z] - a key"])
    assert capsys.readouterr().out.strip() == (
        "retrieval seed0: 304 reports in 1,000 frames, 4 paid (1.3% of reports, 0.00 per frame); "
        "'^[a-z] - a key' 4 (2 distinct, 0.4% of frames, log-odds +0.40 to +0.50)")


def write_run(root: Path, experiment: str, arm: str, seed: int, successes: list[float], frames: int = 1000,
              **settings: object) -> None:
    run = root / experiment / arm / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"frames_done": frames, "frames": frames, **settings}))
    rows = ["frames,length,training_return,extrinsic_return,intrinsic_return,score,success"]
    rows += [f"{frames},10,0,0,0,0,{s}" for s in successes]
    (run / "episodes.csv.gz").write_bytes(gzip.compress("\n".join(rows).encode()))


def test_an_arm_added_later_is_compared_with_the_first_experiment_s_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(learning_evidence, "RESULTS", tmp_path)
    write_run(tmp_path, "first", "novelty", 0, [0.0, 1.0], task="T")
    write_run(tmp_path, "first", "retrieval", 0, [0.0], task="T")
    write_run(tmp_path, "later", "retrieval-named", 0, [1.0, 1.0], task="T")
    runs, done, budget = learning_evidence.load("later", ["first/novelty"])
    assert sorted(runs) == ["novelty", "retrieval-named"] and budget == 1000
    assert [e.success for e in runs["novelty"][0]] == [0.0, 1.0] and done["novelty"] == {0: 1000}
    write_run(tmp_path, "other", "novelty", 0, [1.0], task="T")
    for borrowed, error in [(["first/ranking"], "no committed runs"), (["novelty"], "EXPERIMENT/ARM"),
                            (["first/novelty", "other/novelty"], "an arm novelty is loaded already")]:
        with pytest.raises(SystemExit, match=error):
            learning_evidence.load("later", borrowed)
    write_run(tmp_path, "later", "novelty", 0, [0.0], task="T")
    with pytest.raises(SystemExit, match="an arm novelty is loaded already"):
        learning_evidence.load("later", ["first/novelty"])
    write_run(tmp_path, "short", "none", 0, [0.0], frames=500, task="T")
    with pytest.raises(SystemExit, match="differ in frames"):
        learning_evidence.load("short", ["first/retrieval"])
    write_run(tmp_path, "elsewhere", "none", 0, [0.0], task="U")
    with pytest.raises(SystemExit, match="differ in task"):
        learning_evidence.load("elsewhere", ["first/retrieval"])


def test_a_protocol_changing_only_the_intrinsic_reward_borrows_the_task_reward_only_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(learning_evidence, "RESULTS", tmp_path)
    # a finished comparison, its configs written before cross_episode_exponent existed
    write_run(tmp_path, "first", "none", 0, [0.0], task="T", reward="none", count_exponent=3.0)
    write_run(tmp_path, "first", "retrieval", 0, [0.0], task="T", reward="retrieval", count_exponent=3.0)
    write_run(tmp_path, "decay", "retrieval-decay", 0, [1.0], task="T", reward="retrieval", count_exponent=3.0,
              cross_episode_exponent=0.5)
    runs, _, _ = learning_evidence.load("decay", ["first/none"])
    assert sorted(runs) == ["none", "retrieval-decay"]
    with pytest.raises(SystemExit, match="differ in cross_episode_exponent"):
        learning_evidence.load("decay", ["first/retrieval"])
    write_run(tmp_path, "same", "retrieval-again", 0, [1.0], task="T", reward="retrieval", count_exponent=3.0,
              cross_episode_exponent=0.0)  # what a config written before the field was run under
    assert sorted(learning_evidence.load("same", ["first/retrieval"])[0]) == ["retrieval", "retrieval-again"]
    write_run(tmp_path, "wider", "none-wide", 0, [0.0], task="T", reward="none", workers=8)
    with pytest.raises(SystemExit, match="differ in workers"):  # the batch, and a decay per env, differ
        learning_evidence.load("wider", ["first/none"])


def test_arms_are_checked_before_any_run():
    from benchmarks.learning_evidence import parse_arms

    assert parse_arms(["novelty", "retrieval-named=retrieval", "none"]) == [
        ("novelty", "novelty"), ("retrieval-named", "retrieval"), ("none", "none")]
    for specs, error in [(["=retrieval"], "NAME=MODEL"), (["named="], "NAME=MODEL"), (["a/b=retrieval"], "NAME=MODEL"),
                         (["retrieval", "motif"], "no reward model 'motif'"),
                         (["novelty=retrieval"], "another reward model's arm"),
                         (["x=retrieval", "x=ranking"], "share a name")]:
        with pytest.raises(SystemExit, match=error):
            parse_arms(specs)
    with pytest.raises(SystemExit, match="needs a name of its own"):
        parse_arms(["retrieval"], named_only=True)
    assert parse_arms(["retrieval-named=retrieval"], named_only=True) == [("retrieval-named", "retrieval")]


def test_run_trains_a_named_arm_as_its_model_with_the_counterexamples(tmp_path, monkeypatch, capsys):
    import argparse

    import oni_rl.train

    seen = []

    def train(config):
        seen.append(config)
        return argparse.Namespace(frames=config.frames, frames_per_second=1.0)

    monkeypatch.setattr(oni_rl.train, "train", train)
    monkeypatch.setattr(learning_evidence, "RESULTS", tmp_path / "results")
    task = "MiniHack-LavaCross-Levitate-Potion-Inv-Full-v0"
    args = argparse.Namespace(
        experiment="exp", arms=["retrieval-named=retrieval"], seeds=[3], frames=1000, task=task,
        goal_counterexample=["Your face is already clean."], runs=tmp_path / "runs", extrinsic_coef=10.0,
        intrinsic_coef=0.4, count_exponent=3.0, cross_episode_exponent=0.5, workers=1, envs_per_worker=2,
        max_episode_steps=None, restart_unfinished=True)
    stopped = tmp_path / "runs" / "exp" / "retrieval-named-seed3"
    stopped.mkdir(parents=True)
    (stopped / "episodes.csv").write_text("frames\n")  # a run stopped before its first checkpoint
    learning_evidence.run(args)
    assert (tmp_path / "runs" / "exp" / "stopped" / "retrieval-named-seed3-1" / "episodes.csv").exists()
    assert "started over" in capsys.readouterr().out
    (config,) = seen
    assert config.reward == "retrieval" and config.run_dir == tmp_path / "runs" / "exp" / "retrieval-named-seed3"
    assert (config.count_exponent, config.cross_episode_exponent) == (3.0, 0.5)
    assert config.server.goal_counterexample == ["Your face is already clean."]
    assert config.server.goal_example  # the task's own goal and examples are kept


def test_a_run_s_episode_counts_say_when_its_last_win_was():
    from oni_rl.logbook import Episode

    def episode(frames: int, success: float, length: int) -> Episode:
        return Episode(frames, length, 0.0, 0.0, 0.0, 0.0, success)

    early = [episode(1_000, 1.0, 2), episode(2_000, 0.0, 4), episode(300_000, 0.0, 3)]
    assert learning_evidence.episode_counts(early) == "episodes 3, successes 1 (last at 1,000 frames), length 3"
    assert learning_evidence.episode_counts(early[1:]) == "episodes 2, successes 0, length 4"


def test_a_run_is_saved_with_the_settings_it_trained_under_and_its_resumes(tmp_path, monkeypatch):
    import torch

    from oni_rl.config import TrainConfig

    monkeypatch.setattr(learning_evidence, "RESULTS", tmp_path / "results")
    run_dir = tmp_path / "runs" / "exp" / "retrieval-seed0"
    run_dir.mkdir(parents=True)
    trained = TrainConfig(task="MiniHack-KeyRoom-S15-v0", reward="retrieval", frames=2000, run_dir=run_dir,
                          cross_episode_exponent=0.5, server={"store": run_dir / "oni.sqlite"}, token="secret")
    (run_dir / "config.json").write_text(json.dumps(trained.record()))
    (run_dir / "episodes.csv").write_text(
        "frames,length,training_return,extrinsic_return,intrinsic_return,score,success\n"
        "900,10,0,0,0,0,0\n1900,10,0,0,0,0,1\n2100,10,0,0,0,0,1\n")
    torch.save({"frames": 2000}, run_dir / "checkpoint.pt")
    (run_dir / "resumes.csv").write_text("frames\n1000\n2000\n")
    learning_evidence.save_raw("exp", "retrieval", 0, run_dir)
    saved = json.loads((tmp_path / "results" / "exp" / "retrieval" / "seed0" / "config.json").read_text())
    assert saved["frames_done"] == 2000 and saved["cross_episode_exponent"] == 0.5
    assert saved["resumed_at"] == [1000, 2000] and saved["token"] == "***"
    assert saved["run_dir"] == "runs/exp/retrieval-seed0"
    assert saved["server"]["store"] == "runs/exp/retrieval-seed0/oni.sqlite"  # no path of this machine
    episodes = gzip.decompress((tmp_path / "results" / "exp" / "retrieval" / "seed0" / "episodes.csv.gz")
                               .read_bytes()).decode().splitlines()
    assert len(episodes) == 3  # the episode after the checkpoint is collected again on resume

    # the same command without the decay must not re-save this finished run as a run without it
    plain = trained.model_copy(update={"cross_episode_exponent": 0.0})
    with pytest.raises(SystemExit, match="--cross-episode-exponent: 0.5 in the checkpoint, 0.0 now"):
        learning_evidence.check_finished_run(run_dir, plain)
    learning_evidence.check_finished_run(run_dir, trained.model_copy(update={"learner_threads": 1}))  # only speed
    with pytest.raises(SystemExit, match="--workers: 2 in the checkpoint, 4 now"):  # the decay is counted per env
        learning_evidence.check_finished_run(run_dir, trained.model_copy(update={"workers": 4}))
