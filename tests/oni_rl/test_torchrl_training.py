"""TorchRL PPO with ONI rewards, for real: NLE in collector processes, the reward server with the
embedded LLM, the LSTM agent. A few thousand frames on the CPU; learning itself is measured in
``benchmarks/learning_evidence.py``, not here."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from tensordict import TensorDict

from oni_rl.encoder import egocentric_crop, lookup
from oni_rl.logbook import finished_episodes, read_episodes
from oni_rl.policy import PolicyConfig, build_actor_critic
from oni_rl.ppo import PPOConfig, add_advantages
from oni_rl.tasks import EXTENDED_ACTIONS
from oni_rl.train import TrainConfig, acting_policy, load_checkpoint, sync_acting_policy, train
from reward_server.config import ServerConfig
from tests.helpers import seed_helpful_walls


def small_run(run_dir: Path, frames: int, **overrides: object) -> TrainConfig:
    settings: dict[str, object] = {
        "task": "NetHackScore-v0", "reward": "retrieval", "frames": frames, "workers": 2, "envs_per_worker": 2,
        "rollout": 32, "run_dir": run_dir, "max_episode_steps": 150, "checkpoint_every": 1, "progress": False,
    }
    settings.update(overrides)
    return TrainConfig(**settings)  # type: ignore[arg-type]


@pytest.mark.llm
def test_ppo_with_oni_rewards_trains_checkpoints_and_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    seed_helpful_walls(ServerConfig(port=0, reward_model="retrieval", store=run_dir / "oni.sqlite"))
    first = train(small_run(run_dir, frames=1536))
    assert first.frames == 1536 and first.updates == 12
    assert first.last_report is not None and first.last_report.finite()
    checkpoint = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert checkpoint["frames"] == 1536 and checkpoint["updates"] == 12

    # resume: same store (the LLM's labels from the first part are served at once), same weights
    second = train(small_run(run_dir, frames=3072, resume=True))
    assert second.frames == 1536 and second.updates == 24  # updates count from the checkpoint
    assert second.last_report is not None and second.last_report.finite()
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["updates"] == 24
    # the intrinsic reward reached the learner: steps whose training reward had an ONI part
    assert 0 < second.intrinsic_steps < second.frames // 2  # steps whose reward had an ONI part: a few
    episodes = read_episodes(run_dir / "episodes.csv")
    assert len(episodes) >= 8  # 150-step episodes, 4 envs, 3072 frames
    assert any(e.intrinsic_return > 0 for e in episodes)
    assert all(math.isfinite(e.training_return) for e in episodes)
    assert (run_dir / "learning_curves.png").stat().st_size > 10_000
    assert any((run_dir / "tensorboard").iterdir())


def test_resume_restores_the_exact_weights(tmp_path: Path) -> None:
    run_dir = tmp_path / "none"
    train(small_run(run_dir, frames=256, reward="none", workers=1, envs_per_worker=2))
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]
    torch.manual_seed(0)  # the seed train() starts from: the weights a run without resume would have
    fresh = build_actor_critic(len(EXTENDED_ACTIONS)).state_dict()
    assert any(not torch.equal(fresh[k], v) for k, v in saved.items())  # training moved them
    again = train(small_run(run_dir, frames=256, reward="none", workers=1, envs_per_worker=2, resume=True))
    assert again.frames == 0 and again.updates == 4  # already at its frame budget: nothing to do, nothing lost
    # the resumed run saved what it loaded; had it not loaded the checkpoint it would have saved `fresh`
    resaved = torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(resaved[k], v) for k, v in saved.items())


class Payload:
    """Stands for code a pickled checkpoint could carry: unpickling it must be refused."""

    ran = False

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Payload._run, ())

    @staticmethod
    def _run() -> None:
        Payload.ran = True


def test_a_checkpoint_that_carries_code_is_refused(tmp_path: Path) -> None:
    model = build_actor_critic(len(EXTENDED_ACTIONS))
    optimizer = torch.optim.Adam(model.parameters())
    path = tmp_path / "checkpoint.pt"
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "frames": 1, "updates": 1,
                "config": Payload()}, path)
    with pytest.raises(Exception, match="Weights only load failed"):
        load_checkpoint(path, model, optimizer)
    assert not Payload.ran


def test_egocentric_crop_centres_the_hero_and_pads_off_map() -> None:
    glyphs = torch.arange(21 * 79).reshape(1, 21, 79)
    crop = egocentric_crop(glyphs, torch.tensor([0]), torch.tensor([10]), 3)
    assert crop[0, 1, 1] == glyphs[0, 10, 0]
    assert crop[0, 1, 2] == glyphs[0, 10, 1]
    assert (crop[0, :, 0] == crop.new_tensor(5976)).all()  # left of column 0: padding (MAX_GLYPH)


def test_lookup_equals_the_embedding_in_values_and_gradients() -> None:
    table = torch.nn.Embedding(50, 4)
    indices = torch.randint(0, 50, (3, 5, 7))  # repeats: the gradient rows must accumulate
    upstream = torch.randn(3, 5, 7, 4)
    (table(indices) * upstream).sum().backward()
    expected = table.weight.grad.clone()
    table.weight.grad = None
    values = lookup(table, indices)
    (values * upstream).sum().backward()
    assert torch.equal(values, table(indices))
    assert torch.allclose(table.weight.grad, expected, atol=1e-6)


def test_advantages_bootstrap_truncation_but_not_termination() -> None:
    """GAE with lambda = 1, gamma = 1 and a constant critic: V(next) counts only when not terminated."""
    model = build_actor_critic(len(EXTENDED_ACTIONS))
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    torch.nn.init.constant_(model.modules["value"].bias, 5.0)  # V(s) = 5 everywhere

    def step_data(terminated: bool, truncated: bool) -> TensorDict:
        obs = {"glyphs": torch.zeros(1, 1, 21, 79, dtype=torch.int16), "blstats": torch.zeros(1, 1, 27),
               "message": torch.zeros(1, 1, 256, dtype=torch.uint8), "is_init": torch.ones(1, 1, 1, dtype=torch.bool),
               "recurrent_state_h": torch.zeros(1, 1, 1, 256), "recurrent_state_c": torch.zeros(1, 1, 1, 256)}
        flags = {"reward": torch.ones(1, 1, 1), "terminated": torch.tensor([[[terminated]]]),
                 "truncated": torch.tensor([[[truncated]]]), "done": torch.tensor([[[terminated or truncated]]])}
        acted = {"state_value": torch.full((1, 1, 1), 5.0)}  # what the acting policy recorded
        return TensorDict({**obs, **acted, "next": {**obs, **flags}}, batch_size=(1, 1))

    config = PPOConfig(gamma=1.0, gae_lambda=1.0)
    terminal = add_advantages(step_data(terminated=True, truncated=False), model, config)
    truncated = add_advantages(step_data(terminated=False, truncated=True), model, config)
    assert terminal["value_target"].item() == pytest.approx(1.0, abs=1e-4)  # r only
    assert truncated["value_target"].item() == pytest.approx(6.0, abs=1e-4)  # r + V(final obs)


def test_finished_episodes_reads_only_done_steps() -> None:
    done = torch.tensor([[False, True, False, True]]).unsqueeze(-1)
    next_td = TensorDict({
        "done": done, "step_count": torch.tensor([[[1], [2], [1], [2]]]),
        "episode_reward": torch.tensor([[[0.0], [1.5], [0.0], [2.5]]]),
        "episode_extrinsic": torch.tensor([[0.0, 10.0, 0.0, 20.0]]),
        "episode_intrinsic": torch.tensor([[0.0, 0.5, 0.0, 0.7]]),
        "score": torch.tensor([[0.0, 40.0, 0.0, 80.0]]), "success": torch.tensor([[0.0, 0.0, 0.0, 1.0]]),
        "kills": torch.tensor([[0.0, 1.0, 0.0, 3.0]]), "gold": torch.tensor([[0.0, 7.0, 0.0, 0.0]]),
        "depth": torch.tensor([[1.0, 1.0, 1.0, 2.0]]), "menu_steps": torch.tensor([[0.0, 0.0, 0.0, 1.0]]),
    }, batch_size=(1, 4))
    episodes = finished_episodes(TensorDict({"next": next_td}, batch_size=(1, 4)), frames=4)
    assert [(e.extrinsic_return, e.score, e.success, e.length) for e in episodes] == [
        (10.0, 40.0, 0.0, 2), (20.0, 80.0, 1.0, 2)]
    assert [(e.kills, e.gold, e.depth, e.menu_steps) for e in episodes] == [(1.0, 7.0, 1.0, 0.0), (3.0, 0.0, 2.0, 1.0)]


def test_an_episodes_file_without_the_behaviour_columns_still_reads(tmp_path: Path) -> None:
    """Files written before kills, gold, depth and menu steps were counted (and gzipped raw files)."""
    import gzip

    old = "frames,length,training_return,extrinsic_return,intrinsic_return,score,success\n100,10,1.0,1.0,0.0,3.0,0.0\n"
    (tmp_path / "episodes.csv").write_text(old)
    with gzip.open(tmp_path / "episodes.csv.gz", "wt") as out:
        out.write(old)
    for name in ("episodes.csv", "episodes.csv.gz"):
        (episode,) = read_episodes(tmp_path / name)
        assert (episode.frames, episode.score, episode.kills, episode.depth) == (100, 3.0, 0.0, 0.0)


def test_a_resumed_run_forgets_episodes_logged_after_its_checkpoint(tmp_path: Path) -> None:
    from oni_rl.logbook import Episode, Logbook

    logbook = Logbook(tmp_path)
    logbook.add_episodes([Episode(f, 10, 1.0, 1.0, 0.0, 3.0, 0.0) for f in (100, 200, 300)])
    logbook.close()
    again = Logbook(tmp_path)  # a crash after frame 200's checkpoint: the run resumes there
    assert again.truncate(200) == 1
    assert [e.frames for e in read_episodes(tmp_path / "episodes.csv")] == [100, 200]
    assert [e.frames for e in again.episodes] == [100, 200]
    again.close()


def test_a_second_run_in_the_same_folder_starts_a_new_one(tmp_path: Path) -> None:
    run_dir = tmp_path / "oni"
    first = train(small_run(run_dir, frames=128, reward="none", workers=1, envs_per_worker=2, rollout=16))
    second = train(small_run(run_dir, frames=128, reward="none", workers=1, envs_per_worker=2, rollout=16))
    assert first.run_dir == run_dir and second.run_dir == tmp_path / "oni-2"
    frames = [e.frames for e in read_episodes(run_dir / "episodes.csv")] if (run_dir / "episodes.csv").exists() else []
    assert frames == sorted(frames)  # the first run's log holds only the first run
    resumed = train(small_run(run_dir, frames=256, reward="none", workers=1, envs_per_worker=2, rollout=16,
                              resume=True))
    assert resumed.run_dir == run_dir and resumed.updates == 2 * first.updates


def test_per_worker_collection_on_a_gpu_learner_acts_with_a_cpu_copy_kept_in_step() -> None:
    """Per-worker workers must not act on the learner's CUDA policy (each would open a CUDA context);
    they get a CPU copy, and every update's weights reach it in place."""
    model = build_actor_critic(len(EXTENDED_ACTIONS), PolicyConfig(hidden_size=32))
    assert acting_policy(TrainConfig(collection="batched", device="cuda"), model) is model.acting
    assert acting_policy(TrainConfig(collection="per-worker", device="cpu"), model) is model.acting
    acting = acting_policy(TrainConfig(collection="per-worker", device="cuda"), model)
    assert acting is not model.acting
    assert all(p.device.type == "cpu" for p in acting.parameters())
    shared = TensorDict.from_module(acting)  # what a collector holds on to
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    sync_acting_policy(acting, model)
    assert (TensorDict.from_module(model.acting) == shared).all()
    assert all(a is b for a, b in zip(shared.values(True, True), TensorDict.from_module(acting).values(True, True),
                                       strict=True))


def test_acting_step_computes_what_the_torchrl_policy_computes() -> None:
    """The collectors act with ``model.acting``; the loss replays ``model.policy``'s modules. Same
    weights, so the same values, next LSTM states and log-probs, episode starts included."""
    torch.manual_seed(0)
    model = build_actor_critic(len(EXTENDED_ACTIONS), PolicyConfig(hidden_size=32))
    glyphs = torch.randint(0, 5976, (2, 3, 21, 79), dtype=torch.int16)
    blstats = torch.randint(0, 20, (2, 3, 27))
    message = torch.randint(0, 128, (2, 3, 256), dtype=torch.uint8)
    is_init = torch.tensor([[True, False, False], [False, True, False]]).unsqueeze(-1)
    td = TensorDict({"glyphs": glyphs, "blstats": blstats, "message": message, "is_init": is_init,
                     "recurrent_state_h": torch.randn(2, 3, 1, 32), "recurrent_state_c": torch.randn(2, 3, 1, 32)},
                    batch_size=[2, 3])  # [workers, envs], as batched collection acts
    with torch.no_grad():
        theirs = model.policy(td.clone())
        ours = model.acting(td.clone())
    for key in ("state_value", ("next", "recurrent_state_h"), ("next", "recurrent_state_c")):
        assert ours[key].shape == theirs[key].shape
        assert torch.allclose(ours[key], theirs[key], atol=1e-5), key
    log_probs = theirs["logits"].log_softmax(-1).gather(-1, ours["action"].unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(ours["action_log_prob"], log_probs, atol=1e-5)
    assert ours["action"].shape == theirs["action"].shape == (2, 3)


def test_auto_collection_is_batched_on_a_gpu_and_per_worker_on_the_cpu() -> None:
    assert TrainConfig(device="cpu").collection == "per-worker"
    assert TrainConfig(device="cuda").collection == "batched"
    assert TrainConfig(device="cpu", collection="batched").collection == "batched"


def test_a_resumed_run_whose_file_predates_the_behaviour_columns_gets_them(tmp_path: Path) -> None:
    from oni_rl.logbook import Episode, Logbook

    (tmp_path / "episodes.csv").write_text(
        "frames,length,training_return,extrinsic_return,intrinsic_return,score,success\n100,10,1.0,1.0,0.0,3.0,0.0\n")
    logbook = Logbook(tmp_path)
    logbook.add_episodes([Episode(200, 10, 1.0, 1.0, 0.0, 5.0, 0.0, kills=2.0)])
    logbook.close()
    assert (tmp_path / "episodes.csv").read_text().splitlines()[0].endswith("kills,gold,depth,menu_steps")
    assert [(e.frames, e.kills) for e in read_episodes(tmp_path / "episodes.csv")] == [(100, 0.0), (200, 2.0)]
