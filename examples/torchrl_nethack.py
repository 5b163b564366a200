"""Train a NetHack agent with ONI intrinsic rewards: TorchRL PPO (LSTM policy), multi-process or on Ray.

By default a reward server starts in this process with the embedded LLM (Gemma 3 270M on the
CPU, no network), and worker processes on this machine collect experience through
``OniRewardWrapper``. Everything lands in ``--run-dir``: ``episodes.csv``, TensorBoard scalars
(``tensorboard --logdir runs``), ``checkpoint.pt`` and ``learning_curves.png``.

    python examples/torchrl_nethack.py                                   # Score, ONI-retrieval, short CPU run
    python examples/torchrl_nethack.py --task NetHackStaircaseLvl3-v0 --reward classification --frames 5e7
    python examples/torchrl_nethack.py --reward none                     # extrinsic-only baseline
    python examples/torchrl_nethack.py --extrinsic-coef 0                # reward-free Score (intrinsic only)
    python examples/torchrl_nethack.py --reward-server http://host:8765  # a server of your own (vLLM behind it)
    python examples/torchrl_nethack.py --ray-address auto --workers 64   # collectors on a Ray cluster
    python examples/torchrl_nethack.py --resume --run-dir runs/oni       # continue from the checkpoint
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from oni_rl.policy import PolicyConfig
from oni_rl.ppo import PPOConfig
from oni_rl.tasks import TASKS
from oni_rl.train import REWARD_CHOICES, TrainConfig, train


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    # the defaults are the configs' own: declared once, in oni_rl
    train_defaults, ppo_defaults, policy_defaults = TrainConfig(extrinsic_coef=0.0), PPOConfig(), PolicyConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=sorted(TASKS), default=train_defaults.task)
    p.add_argument("--reward", choices=REWARD_CHOICES, default=train_defaults.reward,
                   help="reward model of the server ('none': extrinsic reward only)")
    p.add_argument("--frames", type=float, default=train_defaults.frames, help="env frames to train for (e.g. 1e9)")
    p.add_argument("--seed", type=int, default=train_defaults.seed)
    p.add_argument("--workers", type=int, default=train_defaults.workers,
                   help="collector processes (Ray actors with --ray-address)")
    p.add_argument("--envs-per-worker", type=int, default=train_defaults.envs_per_worker)
    p.add_argument("--rollout", type=int, default=train_defaults.rollout,
                   help="steps per env between updates (LSTM sequence length)")
    p.add_argument("--run-dir", type=Path, default=train_defaults.run_dir)
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.pt")
    p.add_argument("--reward-server", help="URL of a running reward server (default: start one in this process)")
    p.add_argument("--token", default=train_defaults.token, help="that server's bearer token (env ONI_TOKEN)")
    p.add_argument("--llm", help="litellm model string for the in-process server (default: the embedded LLM)")
    p.add_argument("--store", type=Path, help="the in-process server's store (default: RUN_DIR/oni.sqlite)")
    p.add_argument("--intrinsic-coef", type=float, default=train_defaults.intrinsic_coef)
    p.add_argument("--extrinsic-coef", type=float,
                   help="weight of the task reward (default: 0.1 on Score, 10 on the sparse tasks, as the reference)")
    p.add_argument("--count-exponent", type=float, default=train_defaults.count_exponent,
                   help="beta in r / N(msg)^beta")
    p.add_argument("--max-episode-steps", type=int, default=train_defaults.max_episode_steps)
    p.add_argument("--ray-address", help="collect on Ray: a cluster address, 'auto' (the cluster this machine is in) or "
                        "'local' (start Ray here)")
    p.add_argument("--collection", choices=["auto", "batched", "per-worker"], default="auto",
                   help="batched: one policy on the learner's device acts for every env of the machine; "
                        "per-worker: each worker process runs its own CPU copy of the policy; "
                        "auto (default): batched with a GPU learner, per-worker on the CPU (the faster, measured)")
    p.add_argument("--async-collection", action="store_true",
                   help="workers keep collecting during updates (APPO-style; batches up to one update stale)")
    p.add_argument("--learner-threads", type=int,
                   help="torch threads of the learner (default: all cores, less one if the LLM runs on this machine)")
    p.add_argument("--device", help="learner device (default: cuda when present)")
    p.add_argument("--lr", type=float, default=ppo_defaults.learning_rate)
    p.add_argument("--epochs", type=int, default=ppo_defaults.epochs)
    p.add_argument("--minibatches", type=int, default=ppo_defaults.minibatches)
    p.add_argument("--entropy-coef", type=float, default=ppo_defaults.entropy_coef)
    p.add_argument("--hidden-size", type=int, default=policy_defaults.hidden_size)
    p.add_argument("--checkpoint-every", type=int, default=train_defaults.checkpoint_every,
                   help="updates between checkpoints")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    config = TrainConfig(
        task=args.task, reward=args.reward, frames=int(args.frames), seed=args.seed, workers=args.workers,
        envs_per_worker=args.envs_per_worker, rollout=args.rollout, run_dir=args.run_dir, resume=args.resume,
        reward_server=args.reward_server, token=args.token, llm=args.llm, store=args.store, intrinsic_coef=args.intrinsic_coef,
        extrinsic_coef=args.extrinsic_coef, count_exponent=args.count_exponent,
        max_episode_steps=args.max_episode_steps, ray_address=args.ray_address,
        collection=args.collection, async_collection=args.async_collection, learner_threads=args.learner_threads,
        checkpoint_every=args.checkpoint_every, progress=not args.quiet,
        ppo=PPOConfig(learning_rate=args.lr, epochs=args.epochs, minibatches=args.minibatches,
                      entropy_coef=args.entropy_coef),
        policy=PolicyConfig(hidden_size=args.hidden_size),
    )
    if args.device:
        config.device = args.device
    return config


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("httpx", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    config = parse_args(argv)
    result = train(config)
    episodes = result.episodes
    print(
        f"\ntrained {result.frames:,} frames in {result.seconds:.0f} s ({result.frames_per_second:.0f} frames/s, "
        f"{result.updates} updates, {result.collect_seconds / max(result.seconds, 1e-9):.0%} of the time waiting "
        f"for batches); {episodes} episodes finished; intrinsic reward paid on {result.intrinsic_steps:,} steps"
    )
    print(f"run folder: {result.run_dir}  (episodes.csv, tensorboard/, checkpoint.pt)")
    if result.plot is not None:
        print(f"learning curves: {result.plot}")


if __name__ == "__main__":
    main()
