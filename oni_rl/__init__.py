"""Training agents with ONI rewards: the paper's NetHack tasks and a TorchRL PPO agent.

``python -m oni_rl`` trains (``oni_rl.cli``), as ``oni_rl.config.TrainConfig`` says. ``oni_rl.tasks``
needs only NLE and ``oni_rl.config`` only pydantic (and the reward server's settings);
``oni_rl.policy`` and ``oni_rl.ppo`` need torch and torchrl (the ``examples`` extra). Nothing here
is imported by ``oni_wrappers`` or ``reward_server``.
"""
