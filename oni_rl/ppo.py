"""Recurrent PPO on collected sequences: GAE from the collector's own LSTM states, then clipped updates.

Data arrive as ``[sequences, time]`` (one row per env). Two choices keep the LSTM honest:

- Advantages use values computed *one step at a time from the recurrent state the collector
  stored* for each step and for each next step. That is exactly the state the acting policy had,
  including across batch boundaries, and it bootstraps truncated episodes from the real final
  observation instead of the next episode's first one.
- The loss replays whole rows in recurrent mode (``set_recurrent_mode``), starting from the
  stored state of each row's first step and resetting where ``is_init`` marks a new episode, so
  minibatches are sets of rows, never shuffled single steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tensordict import TensorDictBase
from torch import nn
from torchrl.modules import set_recurrent_mode
from torchrl.objectives import ClipPPOLoss
from torchrl.objectives.value.functional import generalized_advantage_estimate

from oni_rl.config import PPOConfig
from oni_rl.policy import ACTING_IN_KEYS, ActorCritic

#: what the loss reads, given advantages: the minibatches copy only these (not the next observations,
#: nor acting-time activations such as ``core``, which the loss recomputes with gradients)
LOSS_INPUTS = (*ACTING_IN_KEYS, "action", "action_log_prob", "advantage", "value_target", "state_value")


@dataclass
class UpdateReport:
    loss_objective: float
    loss_critic: float
    loss_entropy: float
    entropy: float
    grad_norm: float
    advantage_mean: float
    value_mean: float

    def finite(self) -> bool:
        return all(math.isfinite(v) for v in vars(self).values())


def make_loss(model: ActorCritic, config: PPOConfig) -> ClipPPOLoss:
    """PPO loss whose critic is the value head alone, reading the ``core`` the actor computes.

    The trunk (encoder + LSTM over whole sequences) is the expensive part; running it once for
    both heads halves the update cost. :func:`ppo_update` passes no collected ``core``, so if the
    actor ever stopped writing ``core`` the critic would fail loudly, never read stale data.
    """
    return ClipPPOLoss(
        actor_network=model.actor, critic_network=model.value_head, clip_epsilon=config.clip_epsilon,
        entropy_coeff=config.entropy_coef, critic_coeff=config.value_coef, normalize_advantage=True,
        loss_critic_type="l2",
    )


CRITIC_INPUTS = ACTING_IN_KEYS  # what the policy reads to act is what the critic reads to evaluate


@torch.no_grad()
def add_advantages(data: TensorDictBase, model: ActorCritic, config: PPOConfig) -> TensorDictBase:
    """Writes ``advantage`` and ``value_target`` into ``data`` (shape ``[rows, time]``).

    V(s_t) is the value the acting policy recorded (the collector's policy computes it with the
    action: the same parameters and LSTM state, so nothing is recomputed). V(s_{t+1}) is
    the recorded value one column later, except where that column is not the same
    episode's next step: the last column (the next batch has it) and truncated steps (the next
    column is a new episode). Only those are evaluated here, from the stored next LSTM state.
    """
    value = data["state_value"]
    terminated = data["next", "terminated"]
    done = data["next", "done"]
    evaluate = (done & ~terminated).squeeze(-1)  # truncated: bootstrap from the real final observation
    evaluate[:, -1] = True
    next_value = torch.zeros_like(value)
    next_value[:, :-1] = value[:, 1:]
    next_inputs = data["next"][evaluate].select(*CRITIC_INPUTS)
    next_value[evaluate] = model.critic(next_inputs)["state_value"]
    advantage, value_target = generalized_advantage_estimate(
        config.gamma, config.gae_lambda, value, next_value,
        data["next", "reward"], done, terminated, time_dim=data.ndim - 1,
    )
    data.set("state_value", value)
    data.set("advantage", advantage)
    data.set("value_target", value_target)
    return data


def ppo_update(
    data: TensorDictBase, model: ActorCritic, loss_module: ClipPPOLoss,
    optimizer: torch.optim.Optimizer, config: PPOConfig,
) -> UpdateReport:
    """``config.epochs`` passes over ``data`` in ``config.minibatches`` sets of whole rows."""
    rows = data.shape[0]
    per_minibatch = max(1, rows // config.minibatches)
    inputs = data.select(*LOSS_INPUTS)
    totals: dict[str, float] = {}
    count = 0
    for _ in range(config.epochs):
        order = torch.randperm(rows)
        for start in range(0, rows, per_minibatch):
            minibatch = inputs[order[start:start + per_minibatch]]
            with set_recurrent_mode(True):
                losses = loss_module(minibatch)
            total = losses["loss_objective"] + losses["loss_critic"] + losses["loss_entropy"]
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            grad_norm = nn.utils.clip_grad_norm_(list(model.parameters()), config.max_grad_norm)
            optimizer.step()
            for key in ("loss_objective", "loss_critic", "loss_entropy", "entropy"):
                totals[key] = totals.get(key, 0.0) + float(losses[key].detach())
            totals["grad_norm"] = totals.get("grad_norm", 0.0) + float(grad_norm)
            count += 1
    return UpdateReport(
        loss_objective=totals["loss_objective"] / count, loss_critic=totals["loss_critic"] / count,
        loss_entropy=totals["loss_entropy"] / count, entropy=totals["entropy"] / count,
        grad_norm=totals["grad_norm"] / count,
        advantage_mean=float(data["advantage"].mean()), value_mean=float(data["state_value"].mean()),
    )
