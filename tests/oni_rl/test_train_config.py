"""The training run's one config (``oni_rl.config.TrainConfig``): its command line with the reward
server's options nested, the ``config.json`` every run writes, resumes refused under a config that
changes what is learned, and external servers checked against what the run asks for."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from oni_rl.cli import main, parse_args
from oni_rl.config import PolicyConfig, PPOConfig, TrainConfig
from oni_rl.resume_check import IncompatibleResume, check_resumable
from oni_rl.server_check import ServerMismatch, check_reward_server
from oni_rl.train import reward_server, train
from reward_server.runner import BackgroundServer
from tests.conftest import fake_config
from tests.fake_llm import FakeLLMServer

ROOT = Path(__file__).resolve().parents[1]


def tiny_run(run_dir: Path, frames: int, **overrides: object) -> TrainConfig:
    """One collector process, two envs, 16-step rollouts: a real run in seconds."""
    settings: dict[str, object] = {
        "task": "NetHackScore-v0", "reward": "none", "frames": frames, "workers": 1, "envs_per_worker": 2,
        "rollout": 16, "run_dir": run_dir, "max_episode_steps": 150, "checkpoint_every": 1, "progress": False,
        "device": "cpu",
    }
    settings.update(overrides)
    return TrainConfig(**settings)  # type: ignore[arg-type]


def fake_llm_flags(fake: FakeLLMServer) -> list[str]:
    return ["--server.llm", "openai/fake-judge", "--server.api-base", fake.api_base, "--server.api-key", "x",
            "--no-server.preflight"]


def test_help_lists_the_trainer_and_the_nested_server_options() -> None:
    done = subprocess.run([sys.executable, "-m", "oni_rl", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    for flag in ("--server.api-base", "--server.goal", "--server.label-mode", "--reward", "--frames", "--quiet",
                 "--ppo.epochs", "--policy.hidden-size", "--lr", "--llm", "--store", "--allow-server-mismatch"):
        assert flag in done.stdout, flag


def test_the_command_line_keeps_the_trainers_flags_and_puts_each_value_in_one_place() -> None:
    config = parse_args(["--frames", "1e9", "--quiet", "--reward", "classification", "--lr", "1e-3",
                         "--hidden-size", "32", "--llm", "hosted_vllm/m", "--server.api-base", "http://a/v1",
                         "--server.goal", "gold", "--epochs", "3", "--entropy-coef", "0.02", "--minibatches", "4",
                         "--store", "labels.sqlite", "--device", "cpu"])
    assert config.frames == 1_000_000_000 and config.progress is False
    assert config.ppo == PPOConfig(learning_rate=1e-3, epochs=3, entropy_coef=0.02, minibatches=4)
    assert config.policy.hidden_size == 32
    server = config.server
    assert (server.llm, server.api_base, server.goal, server.store) == (
        "hosted_vllm/m", ["http://a/v1"], "gold", Path("labels.sqlite"))
    assert server.reward_model == "classification"  # --reward sets it
    assert parse_args(["--server.reward-model", "ranking"]).reward == "ranking"  # and follows it, given alone
    # Python keeps its keywords, the nested configs included
    assert TrainConfig(frames=5e7, ppo=PPOConfig(epochs=3), lr=0.1).ppo == PPOConfig(learning_rate=0.1, epochs=3)


@pytest.mark.parametrize("argv, message", [
    (["--reward", "classification", "--server.reward-model", "ranking"],
     "--reward classification and --server.reward-model ranking disagree"),
    (["--lr", "0.1", "--ppo.learning-rate", "0.2"], "--lr 0.1 and --ppo.learning-rate 0.2 disagree"),
    (["--server.goal", "riches"], "--server.goal: Value error, unknown goal 'riches'"),
    (["--frames", "1.5"], "frames: Input should be a valid integer, got a number with a fractional part"),
    (["--cross-episode-exponent", "-1"], "cross_episode_exponent: Input should be greater than or equal to 0"),
])
def test_contradictory_or_bad_settings_are_a_clear_error(argv: list[str], message: str, capsys) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_bad_setting_never_prints_the_secrets(capsys) -> None:
    assert main(["--token", "SUPERSECRET", "--server.api-key", "LLMKEY", "--lr", "1", "--ppo.learning-rate", "2"]) == 2
    err = capsys.readouterr().err
    assert "disagree" in err and "SUPERSECRET" not in err and "LLMKEY" not in err


def test_the_envs_send_the_token_their_server_checks(monkeypatch) -> None:
    """The in-process server checks its own --server.token (or ONI_TOKEN, which it reads itself);
    an external server's token is --token or ONI_TOKEN."""
    monkeypatch.setenv("ONI_TOKEN", "from-the-environment")
    assert parse_args(["--server.token", "own", "--device", "cpu"]).token == "own"
    assert parse_args(["--device", "cpu"]).token == "from-the-environment"  # the server read it too
    assert parse_args(["--reward-server", "http://127.0.0.1:1", "--device", "cpu"]).token == "from-the-environment"
    monkeypatch.delenv("ONI_TOKEN")
    assert parse_args(["--device", "cpu"]).token is None


def test_the_in_process_server_keeps_the_trainers_defaults_and_reads_its_environment(monkeypatch) -> None:
    monkeypatch.setenv("ONI_PORT", "8765")  # a standalone server's settings
    monkeypatch.setenv("ONI_STORE", "/elsewhere/oni.sqlite")
    monkeypatch.setenv("ONI_LABEL_MODE", "generate")
    monkeypatch.setenv("ONI_RL_SERVER__GOAL", "stairs")
    for config in (parse_args([]), parse_args(["--server.threshold", "0.5"])):
        assert config.server.port == 0 and config.server.store is None
        assert config.server.label_mode == "generate" and config.server.goal == "stairs"
    assert parse_args(["--server.port", "9000"]).server.port == 9000


def test_a_nested_option_reaches_the_in_process_server(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    config = parse_args(["--server.goal", "gold", "--reward", "classification", "--run-dir", str(tmp_path),
                         *fake_llm_flags(fake_llm)])
    with reward_server(config) as url:
        assert url is not None
        stats = httpx.get(f"{url}/v1/stats", timeout=10).json()
    assert (stats["goal"], stats["reward_model"], stats["llm"]) == ("gold", "classification", "openai/fake-judge")
    assert (tmp_path / "oni.sqlite").exists()  # the store in the run folder


def test_the_record_masks_secrets_and_rebuilds_the_same_config() -> None:
    config = TrainConfig(token="trainer-secret", server={"api_key": "llm-secret", "token": "server-secret"},
                         task="NetHackOracle-v0", policy=PolicyConfig(hidden_size=64), device="cpu")
    record = config.record()
    text = json.dumps(record)
    assert "secret" not in text and record["token"] == record["server"]["api_key"] == "***"
    public = TrainConfig(task="NetHackOracle-v0", policy=PolicyConfig(hidden_size=64), device="cpu", llm="openai/m")
    assert TrainConfig(**public.record()).record() == public.record()


def test_a_run_writes_its_config_and_resumes_only_a_compatible_one(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    config = tiny_run(run_dir, frames=32)
    train(config)
    written = (run_dir / "config.json").read_text()
    assert json.loads(written) == config.record()
    assert TrainConfig(**json.loads(written)).record() == config.record()  # round-trips

    # another rollout and another agent: refused before anything is built or written
    argv = ["--resume", "--run-dir", str(run_dir), "--reward", "none", "--frames", "64", "--workers", "1",
            "--envs-per-worker", "2", "--max-episode-steps", "150", "--device", "cpu", "--quiet"]
    assert main([*argv, "--rollout", "8", "--hidden-size", "32"]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "--rollout: 16 in the checkpoint, 8 now" in err
    assert "--policy.hidden-size: 256 in the checkpoint, 32 now" in err
    assert (run_dir / "config.json").read_text() == written

    # more frames, same learning: it continues, and the record follows
    again = train(tiny_run(run_dir, frames=64, resume=True))
    assert again.run_dir == run_dir and again.frames == 32 and again.updates == 2
    assert json.loads((run_dir / "config.json").read_text())["frames"] == 64
    assert (run_dir / "resumes.csv").read_text() == "frames\n32\n"  # the envs started again there


def test_what_may_change_on_resume_and_what_may_not() -> None:
    saved = tiny_run(Path("r"), frames=32).record()
    faster = tiny_run(Path("r"), frames=10**6, workers=8, envs_per_worker=16, seed=3, collection="batched",
                      progress=True).record()
    check_resumable(saved, faster, "r")  # nothing raised
    check_resumable(saved, tiny_run(Path("r"), frames=32, intrinsic_coef=9.0).record(), "r")  # no intrinsic reward
    changed = tiny_run(Path("r"), frames=32, reward="retrieval", extrinsic_coef=0.0, server={"goal": "gold"},
                       ppo=PPOConfig(gamma=0.99)).record()
    with pytest.raises(IncompatibleResume) as refused:
        check_resumable(saved, changed, "r")
    for line in ("--reward: 'none' in the checkpoint, 'retrieval' now", "--extrinsic-coef: 0.1 in the checkpoint",
                 "--ppo.gamma: 0.999 in the checkpoint, 0.99 now", "--server.goal: 'default' in the checkpoint"):
        assert line in str(refused.value)
    retrieval = tiny_run(Path("r"), frames=32, reward="retrieval").record()
    named = tiny_run(Path("r"), frames=32, reward="retrieval", server={"goal_counterexample": ["It's a wall."]}).record()
    with pytest.raises(IncompatibleResume, match="--server.goal-counterexample"):  # another reward: another run
        check_resumable(retrieval, named, "r")
    decaying = tiny_run(Path("r"), frames=32, reward="retrieval", cross_episode_exponent=0.5).record()
    with pytest.raises(IncompatibleResume, match="--cross-episode-exponent: 0.0 in the checkpoint, 0.5 now"):
        check_resumable(retrieval, decaying, "r")
    wider = tiny_run(Path("r"), frames=32, reward="retrieval", cross_episode_exponent=0.5, workers=3).record()
    with pytest.raises(IncompatibleResume, match="--workers: 1 in the checkpoint, 3 now"):  # the decay is per env
        check_resumable(decaying, wider, "r")
    check_resumable(retrieval, tiny_run(Path("r"), frames=32, reward="retrieval", workers=3).record(), "r")
    older = {key: value for key, value in retrieval.items() if key != "cross_episode_exponent"}  # before the field
    check_resumable(older, retrieval, "r")
    with pytest.raises(IncompatibleResume, match="--cross-episode-exponent: 0.0 in the checkpoint, 0.5 now"):
        check_resumable(older, decaying, "r")


def test_an_older_checkpoint_without_a_record_is_resumed_with_a_warning(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        check_resumable({"task": "NetHackScore-v0", "reward": "none"}, tiny_run(Path("r"), 32).record(), "old.pt")
    assert "no config record" in caplog.text


def test_an_external_server_serving_another_reward_model_is_refused(fake_llm: FakeLLMServer, tmp_path: Path,
                                                                     caplog) -> None:
    settings = fake_config(fake_llm, tmp_path / "oni.sqlite", reward_model="classification")
    with BackgroundServer(settings) as server:
        run = tiny_run(tmp_path / "run", frames=32, reward="retrieval", reward_server=server.url)
        with pytest.raises(ServerMismatch, match="reward model .* asks for 'retrieval', the server serves "
                                                 "'classification'"):
            train(run)
        assert not (tmp_path / "run" / "checkpoint.pt").exists()
        with pytest.raises(ServerMismatch, match="goal .* asks for 'gold', the server serves 'default'"):
            check_reward_server(server.url, reward="classification", goal="gold")
        served = check_reward_server(server.url, reward="classification", goal="default")
        assert served is not None and served.reward_model == "classification"
        with caplog.at_level(logging.WARNING):
            assert check_reward_server(server.url, reward="retrieval", goal="default", allow_mismatch=True)
        assert "does not serve what this run asks for" in caplog.text


def test_an_external_server_refusing_the_token_is_refused(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    with BackgroundServer(fake_config(fake_llm, tmp_path / "oni.sqlite", token="right")) as server:
        with pytest.raises(ServerMismatch, match="refused our token"):
            check_reward_server(server.url, reward="retrieval", goal="default", token="wrong")
        assert check_reward_server(server.url, reward="retrieval", goal="default", token="right") is not None


def test_an_unreachable_external_server_is_a_warning(caplog) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with caplog.at_level(logging.WARNING):
        assert check_reward_server(f"http://127.0.0.1:{port}", reward="retrieval", goal="default", timeout=2) is None
    assert "not reachable" in caplog.text and "NOT checked" in caplog.text


def test_an_external_server_with_other_goal_examples_is_refused(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    """The same sentence with other examples of progress is another question: the check says so."""
    goal, examples = "Reach the staircase down in the room.", ["You climb down the stairs."]
    settings = fake_config(fake_llm, tmp_path / "oni.sqlite", goal=goal, goal_example=examples)
    with BackgroundServer(settings) as server:
        assert check_reward_server(server.url, reward="retrieval", goal=goal, goal_examples=examples) is not None
        with pytest.raises(ServerMismatch, match="goal examples .* asks for \\[\\], the server serves "):
            check_reward_server(server.url, reward="retrieval", goal=goal)
        with pytest.raises(ServerMismatch, match="goal counterexamples .* asks for \\['You hear some noises.'\\]"):
            check_reward_server(server.url, reward="retrieval", goal=goal, goal_examples=examples,
                                goal_counterexamples=["You hear some noises."])
