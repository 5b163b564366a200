"""Train a NetHack agent with ONI intrinsic rewards: TorchRL PPO (LSTM policy), multi-process or on Ray.

The same as ``python -m oni_rl`` (``oni_rl.cli``); every option is a field of
``oni_rl.config.TrainConfig``, the reward server's as ``--server.*`` (``--help`` lists them).
By default a reward server starts in this process with the embedded LLM (Gemma 3 270M on the
CPU, no network), and worker processes on this machine collect experience through
``OniRewardWrapper``. Everything lands in ``--run-dir``: ``config.json``, ``episodes.csv``,
TensorBoard scalars (``tensorboard --logdir runs``), ``checkpoint.pt`` and ``learning_curves.png``.

    python examples/torchrl_nethack.py                                   # Score, ONI-retrieval, short CPU run
    python examples/torchrl_nethack.py --task NetHackStaircaseLvl3-v0 --reward classification --frames 5e7
    python examples/torchrl_nethack.py --reward none                     # extrinsic-only baseline
    python examples/torchrl_nethack.py --extrinsic-coef 0                # reward-free Score (intrinsic only)
    python examples/torchrl_nethack.py --server.goal gold                # the in-process server's options
    python examples/torchrl_nethack.py --reward-server http://host:8765  # a server of your own (vLLM behind it)
    python examples/torchrl_nethack.py --ray-address auto --workers 64   # collectors on a Ray cluster
    python examples/torchrl_nethack.py --resume --run-dir runs/oni       # continue from the checkpoint
"""

from oni_rl.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
