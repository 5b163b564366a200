"""The NetHack agent: the NLE encoder (``oni_rl.encoder``) with an LSTM core, as TensorDict modules.

The encoder's features feed an LSTM (``torchrl.modules.LSTMModule``: it stores its recurrent
state in the collected data and replays whole sequences in recurrent mode for the loss), then
a categorical actor head and a value head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tensordict.nn import TensorDictModule, TensorDictSequential
from torch import nn
from torchrl.modules import LSTMModule, ProbabilisticActor, ValueOperator

from oni_rl.encoder import NetHackEncoder, PolicyConfig


@dataclass
class ActorCritic:
    """The modules PPO needs, sharing one encoder and one LSTM.

    ``policy`` (collector): observations → action, its log-prob, the value and the next LSTM
    state. ``actor``: trunk + action distribution; ``critic``: trunk + value (advantages);
    ``value_head``: the value from the ``core`` the actor just wrote (the loss: one trunk pass).
    """

    policy: TensorDictSequential
    actor: ProbabilisticActor
    critic: TensorDictSequential
    value_head: ValueOperator
    lstm: LSTMModule
    modules: nn.ModuleDict

    def parameters(self):  # type: ignore[no-untyped-def]
        return self.modules.parameters()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.modules.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.modules.load_state_dict(state)


def build_actor_critic(n_actions: int, config: PolicyConfig | None = None) -> ActorCritic:
    config = config or PolicyConfig()
    encoder = NetHackEncoder(config)
    encode = TensorDictModule(encoder, in_keys=["glyphs", "blstats", "message"], out_keys=["embedding"])
    lstm = LSTMModule(input_size=encoder.output_size, hidden_size=config.hidden_size,
                      in_key="embedding", out_key="core")
    logits_head = nn.Linear(config.hidden_size, n_actions)
    value_head = nn.Linear(config.hidden_size, 1)
    # small initial logits: a near-uniform first policy explores; small values: a calm critic start
    nn.init.orthogonal_(logits_head.weight, 0.01)
    nn.init.zeros_(logits_head.bias)
    nn.init.orthogonal_(value_head.weight, 1.0)
    nn.init.zeros_(value_head.bias)
    trunk = TensorDictSequential(encode, lstm)
    # the loss needs the actor as one probabilistic module: trunk + logits inside it
    actor = ProbabilisticActor(
        TensorDictSequential(trunk, TensorDictModule(logits_head, in_keys=["core"], out_keys=["logits"])),
        in_keys=["logits"], out_keys=["action"],
        distribution_class=torch.distributions.Categorical,
        return_log_prob=True,
    )
    critic_head = ValueOperator(value_head, in_keys=["core"])
    critic = TensorDictSequential(trunk, critic_head)
    policy = TensorDictSequential(actor, critic_head)  # acting also records V(s): one trunk pass
    modules = nn.ModuleDict({"encoder": encoder, "lstm": lstm, "logits": logits_head, "value": value_head})
    return ActorCritic(policy=policy, actor=actor, critic=critic, value_head=critic_head, lstm=lstm,
                       modules=modules)
