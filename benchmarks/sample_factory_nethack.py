"""Sample Factory APPO on our NetHack task with our encoder: the baseline of ``throughput_vs_sample_factory``.

Runs in its own virtual environment, because ``sample-factory`` 2.1.1 needs numpy < 2 and
gymnasium < 1.0 (and so NLE 1.0.0, the same NetHack 3.6.6 core as our NLE 1.3):

    python3 -m venv /tmp/sfvenv && /tmp/sfvenv/bin/pip install -e '.[sample-factory]'
    /tmp/sfvenv/bin/python benchmarks/sample_factory_nethack.py --num_workers=2 --num_envs_per_worker=4 \\
        --train_for_env_steps=8192 --experiment=sf --train_dir=/tmp/sf

Sample Factory 2.1.1 ships no NetHack setup, so this registers one: ``oni_rl.tasks.make_task``
(same task, extended action set and observation keys as ``examples/torchrl_nethack.py``) and
``oni_rl.encoder.NetHackEncoder`` (the very same network) in front of Sample Factory's own LSTM
core and heads, with no ONI wrapper. Everything else is Sample Factory's APPO as it comes; the
same with ONI rewards is ``examples/sample_factory_nethack.py`` (``oni_rl.sample_factory``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # oni_rl from this checkout, installed or not

from sample_factory.algo.utils.context import global_model_factory
from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args
from sample_factory.envs.env_utils import register_env
from sample_factory.train import run_rl

from oni_rl.sample_factory import ENV_NAME, SF_DEFAULTS, SampleFactoryNetHackEncoder
from oni_rl.tasks import make_task


def make_env(full_env_name, cfg=None, env_config=None, render_mode=None):  # type: ignore[no-untyped-def]
    """The task alone: no ONI wrapper (Sample Factory as it comes)."""
    return make_task("NetHackScore-v0", max_episode_steps=cfg.max_episode_steps if cfg else 5000)


def main() -> int:
    register_env(ENV_NAME, make_env)
    global_model_factory().register_encoder_factory(SampleFactoryNetHackEncoder)
    argv = [*SF_DEFAULTS, "--save_every_sec=100000", *sys.argv[1:]]
    parser, _ = parse_sf_args(argv)
    parser.add_argument("--max_episode_steps", type=int, default=5000)
    cfg = parse_full_cfg(parser, argv)
    return run_rl(cfg)


if __name__ == "__main__":
    sys.exit(main())
