"""The PPO training run: reward server, collectors, updates, logging, checkpoints.

``train(TrainConfig(...))`` is what ``python -m oni_rl`` (and ``examples/torchrl_nethack.py``)
runs; tests and benchmarks call it directly. The config is ``oni_rl.config``'s, re-exported here. Collection goes through TorchRL's ``Collector``: worker processes on this
machine (``backend="process"``), or Ray actors anywhere on a cluster (``backend="ray"``); each
worker steps ``envs_per_worker`` envs as one batched env (``oni_rl.batched_env``) so the policy acts on a batch.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import torch
from tensordict import TensorDict, TensorDictBase
from tensordict.nn import TensorDictModuleBase
from torchrl.collectors import Collector
from torchrl.envs import ParallelEnv
from tqdm import tqdm

from oni_rl.config import REWARD_CHOICES, PolicyConfig, PPOConfig, TrainConfig
from oni_rl.envs import EnvFactory
from oni_rl.logbook import Logbook, finished_episodes, plot_runs, tensor_stats
from oni_rl.policy import ActorCritic, build_actor_critic
from oni_rl.ppo import UpdateReport, add_advantages, make_loss, ppo_update
from oni_rl.resume_check import check_resumable
from oni_rl.server_check import check_reward_server
from oni_rl.tasks import action_count

__all__ = ["REWARD_CHOICES", "PPOConfig", "PolicyConfig", "TrainConfig", "TrainResult", "train"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    frames: int  # trained in this call (a resumed run counts from where it resumed)
    updates: int  # in all, the checkpoint's included
    seconds: float  # from the first collection to the end of the last update
    collect_seconds: float  # waiting for the collectors' batches (the rest: learning, logging)
    episodes: int
    last_report: UpdateReport | None
    run_dir: Path
    plot: Path | None
    intrinsic_steps: int  # collected steps whose training reward had an intrinsic part
    first_batch_seconds: float = 0.0  # until the first batch arrived (the workers' first resets and rollouts)
    first_batch_frames: int = 0

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds else 0.0

    @property
    def steady_frames_per_second(self) -> float:
        """Frames/s after the first batch arrived: the rate once collection and learning overlap,
        measured as Sample Factory measures its own (from its first report with frames)."""
        seconds = self.seconds - self.first_batch_seconds
        return (self.frames - self.first_batch_frames) / seconds if seconds > 0 else 0.0


def make_machine_envs(factory: EnvFactory, workers: int, envs: int) -> ParallelEnv:
    """Every env of this machine as one batched env ``[workers, envs]``: each worker process steps
    ``envs`` envs in turn, and observations and actions cross in shared memory."""
    return ParallelEnv(workers, partial(factory.batched, envs))


@contextlib.contextmanager
def reward_server(config: TrainConfig) -> Iterator[str | None]:
    """The URL envs ship messages to: none, the given one (once checked to serve this run's reward
    model and goal), or a server started in this process from ``config.server``."""
    if config.reward == "none":
        yield None
        return
    if config.reward_server is not None:
        check_reward_server(config.reward_server, reward=config.reward, goal=config.server.goal,
                            goal_examples=config.server.goal_example,
                            goal_counterexamples=config.server.goal_counterexample, token=config.token,
                            allow_mismatch=config.allow_server_mismatch)
        yield config.reward_server
        return
    from reward_server.runner import BackgroundServer

    settings = config.server.model_copy(update={"store": config.server.store or config.run_dir / "oni.sqlite"})
    with BackgroundServer(settings) as server:
        log.info("reward server %s (%s, goal %s, %s) on %s", settings.llm, config.reward, settings.goal,
                 settings.store, server.url)
        yield server.url


def server_scalars(url: str | None, token: str | None = None) -> dict[str, float]:
    """Annotation progress for TensorBoard; a slow or dead server costs one skipped point, not the run."""
    if url is None:
        return {}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        stats = httpx.get(f"{url}/v1/stats", timeout=2.0, headers=headers).json()
    except (httpx.HTTPError, ValueError):
        return {}
    keys = ("messages", "labelled", "queued", "table_version", "positive_share", "recent_paid_share", "preferences",
            "model_version")
    return {f"oni/{k}": float(stats[k]) for k in keys if isinstance(stats.get(k), int | float)}


def acting_policy(config: TrainConfig, model: ActorCritic) -> TensorDictModuleBase:
    """The policy the collector acts with.

    It is ``model.acting`` (the policy's computation in one module, see ``oni_rl.policy.ActingStep``).
    Batched collection acts with the learner's own weights, on the learner's device. Per-worker and
    Ray collection give every worker process its own copy; those copies act on the CPU even when the
    learner is on a GPU: a CUDA policy would make each worker open a CUDA context and take its
    weights over CUDA IPC (on an H100 at 14 workers TorchRL's weight handshake timed out). The
    learner's weights reach the CPU copy through :func:`sync_acting_policy` after each update.
    """
    if config.collection == "batched" and config.ray_address is None:
        return model.acting
    if torch.device(config.device).type == "cpu":
        return model.acting
    return copy.deepcopy(model.acting).to("cpu")


def sync_acting_policy(acting: TensorDictModuleBase, model: ActorCritic) -> None:
    """Copy the learner's weights into the acting policy, in place (the collector shares its tensors)."""
    if acting is not model.acting:
        with torch.no_grad():
            TensorDict.from_module(acting).update_(TensorDict.from_module(model.acting))


def build_collector(config: TrainConfig, model: ActorCritic, server: str | None,
                    acting: TensorDictModuleBase) -> Collector:
    factory = EnvFactory(
        task=config.task, server=server, intrinsic_coef=config.intrinsic_coef,
        extrinsic_coef=config.extrinsic_coef, count_exponent=config.count_exponent,
        cross_episode_exponent=config.cross_episode_exponent,
        hidden_size=config.policy.hidden_size, max_episode_steps=config.max_episode_steps,
        token=config.token,
    )
    make_env = partial(factory.batched, config.envs_per_worker)
    common = {
        "policy": acting, "frames_per_batch": config.frames_per_batch, "total_frames": -1,
        "num_collectors": config.workers, "sync": not config.async_collection,
        "policy_device": "cpu" if acting is not model.acting else config.device,
        "env_device": "cpu", "storing_device": "cpu",
    }
    if config.ray_address is not None:
        # "local" starts a Ray instance on this machine (a smoke test of the path); else join a cluster
        init = {} if config.ray_address == "local" else {"address": config.ray_address}
        options = {"ray_init_config": init}
        # Ray's collector reads total_frames=-1 as "nothing to collect"; the training loop stops itself
        common["total_frames"] = 2**62
        return Collector([make_env] * config.workers, backend="ray", backend_options=options, **common)
    if config.collection == "batched":
        batched = partial(make_machine_envs, factory, config.workers, config.envs_per_worker)
        common.pop("num_collectors")
        common.pop("sync")
        if config.async_collection:  # one collector process (its own env workers) collects while we learn
            return Collector([batched], backend="process", num_collectors=1, sync=False, **common)
        # sync: collect in this process (the policy acts here, on the learner's device), then update
        torch.set_num_threads(learner_threads(config, server))
        return Collector(batched, backend="direct", **common)
    if config.async_collection:  # each worker's batch as it comes; workers never wait for the learner
        return Collector([make_env] * config.workers, backend="process", **common)
    # sync collection: the workers idle while the learner updates, so the learner may use every core
    # (TorchRL would otherwise leave this process cores-minus-workers threads: 1 on a 2-core machine)
    options = {"cat_results": "stack", "num_threads": learner_threads(config, server)}
    return Collector([make_env] * config.workers, backend="process", backend_options=options, **common)


def learner_threads(config: TrainConfig, server: str | None) -> int:
    """Torch threads for the learner in sync mode, when the workers are idle.

    Every core, unless a reward server on this machine (ours, or a URL on the loopback) may be
    running an LLM on the CPU: then one core is left to it. Torch's threads meet at barriers, so
    one of them sharing a core with llama.cpp stalls them all (measured: 0.54x instead of 0.83x
    of the extrinsic-only frames/s on 2 cores, see docs/results.md).
    """
    if config.learner_threads is not None:
        return config.learner_threads
    cores = os.cpu_count() or 1
    local_llm = server is not None and urlsplit(server).hostname in ("127.0.0.1", "localhost", "::1")
    return max(1, cores - 1) if local_llm else cores


def as_sequences(data: TensorDictBase) -> TensorDictBase:
    """``[workers, envs, time]`` (or any leading shape) → ``[rows, time]``."""
    if data.ndim < 2:
        raise ValueError(f"expected collected data shaped [..., time], got {tuple(data.shape)}: "
                         "a collector that flattens time would break the LSTM's sequences")
    return data.reshape(-1, data.shape[-1])


def save_checkpoint(path: Path, model: ActorCritic, optimizer: torch.optim.Optimizer, frames: int,
                    updates: int, config: TrainConfig) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "frames": frames,
                "updates": updates, "config": config.record()}, tmp)
    tmp.replace(path)  # a crash mid-save never leaves a torn checkpoint


def read_checkpoint(path: Path, device: torch.device | str) -> dict[str, Any]:
    # weights_only: tensors and plain containers only; a checkpoint found by --resume must not run code
    return torch.load(path, map_location=device, weights_only=True)


def load_checkpoint(path: Path, model: ActorCritic, optimizer: torch.optim.Optimizer,
                    state: dict[str, Any] | None = None) -> tuple[int, int]:
    """Weights and optimizer from ``path`` (or from its ``state``, already read); its frames and updates."""
    if state is None:
        state = read_checkpoint(path, next(iter(model.parameters())).device)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["frames"]), int(state["updates"])


def write_config(config: TrainConfig) -> Path:
    """``RUN_DIR/config.json``: the whole resolved config (secrets masked), rewritten at every start,
    so a run folder says what produced it without the checkpoint."""
    path = config.run_dir / "config.json"
    path.write_text(json.dumps(config.record(), indent=2) + "\n")
    return path


def fresh_run_dir(run_dir: Path) -> Path:
    """``run_dir`` if it holds no run yet, else the first free ``run_dir-2``, ``-3``, ...

    A second run in the same folder would append to the first one's episodes.csv, TensorBoard
    and plot: only ``--resume`` continues a run.
    """
    def holds_a_run(path: Path) -> bool:
        return any((path / name).exists() for name in ("checkpoint.pt", "episodes.csv", "tensorboard"))

    if not holds_a_run(run_dir):
        return run_dir
    n = 2
    while holds_a_run(candidate := run_dir.with_name(f"{run_dir.name}-{n}")):
        n += 1
    return candidate


def train(config: TrainConfig) -> TrainResult:
    """Train as ``config`` says, in its run folder (or the next free one, unless resuming).

    Works on a copy: the caller's config is left as given. A resumed checkpoint must have been
    trained under a config that agrees on what is learned (``oni_rl.resume_check``).
    """
    config = config.model_copy(deep=True)
    torch.manual_seed(config.seed)
    if not config.resume and (fresh := fresh_run_dir(config.run_dir)) != config.run_dir:
        log.warning("%s holds a run already: this one goes to %s (--resume --run-dir %s continues that one)",
                    config.run_dir, fresh, config.run_dir)
        config.run_dir = fresh
    if config.reward != "none" and config.reward_server is None and config.server.store is None:
        config.server.store = config.run_dir / "oni.sqlite"  # recorded as used
    checkpoint = config.run_dir / "checkpoint.pt"
    state = read_checkpoint(checkpoint, config.device) if config.resume and checkpoint.exists() else None
    if state is not None:  # before anything is built or written: a refused resume leaves the folder as it was
        check_resumable(state.get("config"), config.record(), checkpoint)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    write_config(config)
    model = build_actor_critic(action_count(config.task), config.policy)
    model.modules.to(config.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.ppo.learning_rate, eps=1e-5)
    loss_module = make_loss(model, config.ppo)
    frames = updates = 0
    if state is not None:
        frames, updates = load_checkpoint(checkpoint, model, optimizer, state)
        log.info("resumed from %s at %d frames, %d updates", checkpoint, frames, updates)
    logbook = Logbook(config.run_dir)
    if state is not None and frames < config.frames:
        logbook.note_resume(frames)
    if dropped := logbook.truncate(frames):  # frames after the checkpoint are collected again
        log.info("dropped %d logged episodes past the checkpoint's %d frames", dropped, frames)
    collect_seconds = first_batch_seconds = seconds = 0.0
    first_batch_frames = 0
    start_frames = frames
    report: UpdateReport | None = None
    intrinsic_steps = 0
    with reward_server(config) as server:
        acting = acting_policy(config, model)
        collector = build_collector(config, model, server, acting)
        collector.set_seed(config.seed + 1000 * updates)
        start = time.perf_counter()  # frames/s counts training, not the server's or workers' start-up
        bar = tqdm(total=config.frames, initial=frames, unit="frame", disable=not config.progress,
                   desc=f"{config.task} [{config.reward}]", dynamic_ncols=True)
        try:
            batches = iter(collector)
            while frames < config.frames:
                tick = time.perf_counter()
                data = as_sequences(next(batches)).to(config.device)
                collect_seconds += time.perf_counter() - tick
                frames += data.numel()
                if not first_batch_frames:
                    first_batch_frames, first_batch_seconds = data.numel(), time.perf_counter() - start
                episodes = finished_episodes(data, frames)
                intrinsic_steps += int((data["next", "step_intrinsic"] != 0).sum())
                add_advantages(data, model, config.ppo)
                report = ppo_update(data, model, loss_module, optimizer, config.ppo)
                updates += 1
                sync_acting_policy(acting, model)
                collector.update_policy_weights_()
                logbook.add_episodes(episodes)
                logbook.add_scalars({f"loss/{k}": v for k, v in asdict(report).items()} | tensor_stats(data)
                                    | server_scalars(server, config.token) | intrinsic_share(logbook, config), frames)
                elapsed = time.perf_counter() - start
                logbook.add_scalars({"perf/frames_per_second": (frames - start_frames) / elapsed}, frames)
                bar.update(min(data.numel(), config.frames - bar.n))  # the last batch may overshoot
                bar.set_postfix(fps=f"{(frames - start_frames) / elapsed:.0f}",
                                ret=_fmt(logbook.recent("extrinsic_return")), score=_fmt(logbook.recent("score")),
                                intr=_fmt(logbook.recent("intrinsic_return")), refresh=False)
                if updates % config.checkpoint_every == 0:
                    save_checkpoint(checkpoint, model, optimizer, frames, updates, config)
                seconds = time.perf_counter() - start
        finally:
            bar.close()
            collector.shutdown()  # not timed: start-up and shutdown are outside `seconds`
    save_checkpoint(checkpoint, model, optimizer, frames, updates, config)
    logbook.close()
    plot = None
    if logbook.episodes:
        plot = plot_runs({config.reward: [logbook.episodes]}, config.run_dir / "learning_curves.png",
                         f"{config.task}, reward {config.reward}")
    return TrainResult(
        frames=frames - start_frames, updates=updates, seconds=seconds, collect_seconds=collect_seconds,
        first_batch_seconds=first_batch_seconds, first_batch_frames=first_batch_frames,
        episodes=len(logbook.episodes), last_report=report, run_dir=config.run_dir, plot=plot,
        intrinsic_steps=intrinsic_steps,
    )


def intrinsic_share(logbook: Logbook, config: TrainConfig, window: int = 100) -> dict[str, float]:
    """Share of the training return that came from ONI over the last ``window`` episodes."""
    recent = logbook.episodes[-window:]
    if not recent:
        return {}
    intrinsic = sum(abs(e.intrinsic_return) for e in recent)
    extrinsic = sum(abs((config.extrinsic_coef or 0.0) * e.extrinsic_return) for e in recent)
    total = intrinsic + extrinsic
    return {"oni/intrinsic_share": intrinsic / total} if total else {}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
