"""Sample Factory 2's APPO on a NetHack task with ONI rewards from a reward server beside it.

Sample Factory 2.1.1 needs gymnasium < 1.0 and numpy < 2, so it gets a virtual environment of its
own; the reward server runs in oni's (any ``--llm``). Two terminals (docs/sample-factory.md):

    # 1. the reward server, from oni's environment (here: the embedded LLM)
    .venv/bin/python -m reward_server --port 8765 --store runs/sf-oni.sqlite
    # 2. Sample Factory with ONI rewards, from its own environment
    python3 -m venv .sfvenv && .sfvenv/bin/pip install -e '.[sample-factory]'
    .sfvenv/bin/python examples/sample_factory_nethack.py --oni_server http://127.0.0.1:8765 \\
        --num_workers 2 --num_envs_per_worker 4 --train_for_env_steps 1000000 --experiment oni --train_dir runs/sf

Every Sample Factory option works as usual (``--help`` lists them with the ``--oni_*`` ones).
TensorBoard (``tensorboard --logdir runs/sf``): ``policy_stats/avg_intrinsic_return``,
``policy_stats/avg_extrinsic_return`` and ``policy_stats/avg_score`` per episode; ``reward/reward``
is the training return (both parts, weighted); ``policy_stats/avg_true_objective`` the task's own.
"""

from __future__ import annotations

import sys

from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args
from sample_factory.train import run_rl

from oni_rl.sample_factory import SF_DEFAULTS, add_oni_args, register_oni


def main(argv: list[str] | None = None) -> int:
    register_oni()
    argv = [*SF_DEFAULTS, *(sys.argv[1:] if argv is None else argv)]
    parser, _ = parse_sf_args(argv)
    add_oni_args(parser)
    cfg = parse_full_cfg(parser, argv)
    return run_rl(cfg)


if __name__ == "__main__":
    sys.exit(main())
