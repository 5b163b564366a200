"""Training agents with ONI rewards: the paper's NetHack tasks and a TorchRL PPO agent.

``oni_rl.tasks`` needs only NLE; ``oni_rl.policy`` and ``oni_rl.ppo`` need torch and torchrl
(the ``examples`` extra). Nothing here is imported by ``oni_wrappers`` or ``reward_server``.
"""
