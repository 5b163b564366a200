"""Sample Factory 2 with ONI rewards: the env, its episode statistics and oni's encoder, registered.

Sample Factory 2.1.1 pins gymnasium < 1.0 and numpy < 2 (so NLE 1.0), which is why it runs in
an environment of its own (``pip install -e '.[sample-factory]'`` there; docs/sample-factory.md).
This module needs only what that environment has: torch, Sample Factory, NLE, and the light
``oni_wrappers`` (no TorchRL, no reward server; the server runs in oni's own environment, or
anywhere, and the envs reach it over HTTP).

Each env Sample Factory builds is ``make_task(task)`` wrapped in ``OniRewardWrapper`` (training
reward ``extrinsic_coef · r_ext + intrinsic_coef · r_int / N(msg)^β``, no network call on the
step path) and :class:`SampleFactoryEpisodeStats`, which hands Sample Factory what happened per
episode: ``episode_extra_stats`` (TensorBoard ``policy_stats/avg_<name>``: the intrinsic return as
paid, coefficient and count scaling applied; the task's return before its coefficient; the
in-game score) and ``true_objective`` (the task's own return, so Sample
Factory's objective is the task, not the shaped reward).
"""

from __future__ import annotations

import argparse
from typing import Any

import gymnasium as gym
from sample_factory.algo.utils.context import global_model_factory
from sample_factory.envs.env_utils import register_env
from sample_factory.model.encoder import Encoder

from oni_rl.architecture import PolicyConfig
from oni_rl.encoder import NetHackEncoder
from oni_rl.episode_stats import EpisodeStats
from oni_rl.tasks import default_extrinsic_coef, make_task
from oni_wrappers import OniRewardWrapper

ENV_NAME = "oni_nethack"
#: Sample Factory's episode statistics (TensorBoard ``policy_stats/avg_<name>``) from EpisodeStats' keys
SAMPLE_FACTORY_STATS: dict[str, str] = {
    "intrinsic_return": "episode_intrinsic", "extrinsic_return": "episode_extrinsic", "score": "score",
    "success": "success", "kills": "kills", "gold": "gold", "depth": "depth",
}
#: Sample Factory's defaults for this env: oni_rl's PPO sizes (rollout 64, LSTM 256), CPU
SF_DEFAULTS: tuple[str, ...] = (
    "--algo=APPO", f"--env={ENV_NAME}", "--device=cpu", "--use_rnn=True", "--rnn_type=lstm", "--rnn_size=256",
    "--rollout=64", "--recurrence=64", "--batch_size=256", "--num_batches_per_epoch=2", "--num_epochs=2",
    "--normalize_input=False", "--with_wandb=False", "--decorrelate_envs_on_one_worker=False",
)


class SampleFactoryEpisodeStats(EpisodeStats):
    """oni's episode statistics (:class:`~oni_rl.episode_stats.EpisodeStats`), handed at each
    episode's end to Sample Factory the way it reads them."""

    def step(self, action: Any):  # type: ignore[no-untyped-def]
        obs, reward, terminated, truncated, info = super().step(action)
        if terminated or truncated:
            info["episode_extra_stats"] = {name: float(info[key]) for name, key in SAMPLE_FACTORY_STATS.items()}
            info["true_objective"] = float(info["episode_extrinsic"])
        return obs, reward, terminated, truncated, info


def make_oni_env(full_env_name: str, cfg: argparse.Namespace | None = None, env_config: Any = None,
                 render_mode: str | None = None) -> gym.Env:
    """Sample Factory's env factory: the task, ONI's reward, the episode statistics."""
    if cfg is None:
        raise ValueError("the ONI env needs Sample Factory's cfg (its --oni_* options)")
    env = make_task(cfg.oni_task, max_episode_steps=cfg.max_episode_steps)
    server = None if cfg.oni_server in ("", "none") else cfg.oni_server
    extrinsic_coef = default_extrinsic_coef(cfg.oni_task) if cfg.oni_extrinsic_coef is None else cfg.oni_extrinsic_coef
    oni = OniRewardWrapper(env, server=server, intrinsic_coef=cfg.oni_intrinsic_coef,
                           extrinsic_coef=extrinsic_coef, count_exponent=cfg.oni_count_exponent,
                           cross_episode_exponent=cfg.oni_cross_episode_exponent)
    return SampleFactoryEpisodeStats(oni)


class SampleFactoryNetHackEncoder(Encoder):
    """oni's encoder (``oni_rl.encoder.NetHackEncoder``) in front of Sample Factory's own core and heads."""

    def __init__(self, cfg: argparse.Namespace, obs_space: Any) -> None:
        super().__init__(cfg)
        self.encoder = NetHackEncoder(PolicyConfig(hidden_size=cfg.rnn_size))

    def forward(self, obs_dict: dict[str, Any]) -> Any:
        return self.encoder(obs_dict["glyphs"], obs_dict["blstats"], obs_dict["message"])

    def get_out_size(self) -> int:
        return self.encoder.output_size


def add_oni_args(parser: argparse.ArgumentParser) -> None:
    """The ONI options, beside Sample Factory's own."""
    parser.add_argument("--oni_task", default="NetHackScore-v0", help="the NetHack task (oni_rl.tasks)")
    parser.add_argument("--oni_server", default="http://127.0.0.1:8765",
                        help="the reward server's URL ('none': the task's reward only, no client)")
    parser.add_argument("--oni_intrinsic_coef", type=float, default=0.4, help="weight of the ONI reward")
    parser.add_argument("--oni_extrinsic_coef", type=float, default=None,
                        help="weight of the task's reward (default: the reference's, 0.1 on Score and 10 on the "
                             "sparse tasks; 0: reward-free)")
    parser.add_argument("--oni_count_exponent", type=float, default=3.0, help="beta in r / N(msg)^beta")
    parser.add_argument("--oni_cross_episode_exponent", type=float, default=0.0,
                        help="gamma: a message paid in E earlier episodes of the env pays 1/(1+E)^gamma")
    parser.add_argument("--max_episode_steps", type=int, default=None,
                        help="steps before an episode is truncated (default: the task's)")


def register_oni() -> None:
    """Registers the env and the encoder with Sample Factory (once per process: its workers too)."""
    register_env(ENV_NAME, make_oni_env)
    global_model_factory().register_encoder_factory(SampleFactoryNetHackEncoder)
