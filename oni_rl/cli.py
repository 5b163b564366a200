"""``python -m oni_rl``: train a NetHack agent with ONI rewards (``examples/torchrl_nethack.py`` runs
the same). Every option, its help and its ``ONI_RL_*`` variable come from ``TrainConfig``'s fields.

    python -m oni_rl                                                 # Score, ONI-retrieval, short CPU run
    python -m oni_rl --task NetHackStaircaseLvl3-v0 --reward classification --frames 5e7
    python -m oni_rl --reward none                                   # extrinsic-only baseline
    python -m oni_rl --server.goal gold --server.llm hosted_vllm/m --server.api-base http://gpu:8000/v1
    python -m oni_rl --reward-server http://host:8765                # a server of your own
    python -m oni_rl --resume --run-dir runs/oni                     # continue from the checkpoint
"""

from __future__ import annotations

import logging
import sys

from pydantic_settings import CliApp

from oni_rl.config import TrainConfig
from reward_server.cli import settings_from_cli


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """The config a command line asks for (``--help`` exits here, before torch is imported)."""
    return CliApp.run(TrainConfig, cli_args=sys.argv[1:] if argv is None else argv)


def main(argv: list[str] | None = None) -> int:
    config = settings_from_cli(TrainConfig, sys.argv[1:] if argv is None else argv)
    if config is None:
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("httpx", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from oni_rl.resume_check import IncompatibleResume
    from oni_rl.server_check import ServerMismatch
    from oni_rl.train import train

    try:
        result = train(config)
    except (IncompatibleResume, ServerMismatch) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"\ntrained {result.frames:,} frames in {result.seconds:.0f} s ({result.frames_per_second:.0f} frames/s, "
        f"{result.updates} updates, {result.collect_seconds / max(result.seconds, 1e-9):.0%} of the time waiting "
        f"for batches); {result.episodes} episodes finished; intrinsic reward paid on {result.intrinsic_steps:,} steps"
    )
    print(f"run folder: {result.run_dir}  (config.json, episodes.csv, tensorboard/, checkpoint.pt)")
    if result.plot is not None:
        print(f"learning curves: {result.plot}")
    return 0
