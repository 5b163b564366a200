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

from oni_rl.architecture import PolicyConfig
from oni_rl.encoder import NetHackEncoder


@dataclass
class ActorCritic:
    """The modules PPO needs, sharing one encoder and one LSTM.

    ``policy``: observations → action, its log-prob, the value and the next LSTM state, built
    from TorchRL's modules. ``acting``: the same computation on the same weights as one module
    (:class:`ActingStep`), which the collectors run. ``actor``: trunk + action distribution;
    ``critic``: trunk + value (advantages); ``value_head``: the value from the ``core`` the actor
    just wrote (the loss: one trunk pass).
    """

    policy: TensorDictSequential
    acting: TensorDictModule
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


ACTING_IN_KEYS = ["glyphs", "blstats", "message", "is_init", "recurrent_state_h", "recurrent_state_c"]
ACTING_OUT_KEYS = ["action", "action_log_prob", "state_value",
                   ("next", "recurrent_state_h"), ("next", "recurrent_state_c")]


class ActingStep(nn.Module):
    """One acting step for a batch of envs: what ``ActorCritic.policy`` computes, with its weights.

    Why a second path: at acting batch sizes (a worker's 4–16 envs) TorchRL's per-module
    TensorDict layers (``TensorDictSequential``, ``LSTMModule``'s reshaping, the probabilistic
    actor, and ``nn.LSTM`` run on a length-1 sequence) cost as much as the network does;
    ``python -m benchmarks.step_costs`` times both paths side by side. The learner keeps TorchRL's modules
    (``ClipPPOLoss`` replays sequences through them); ``tests/oni_rl/test_torchrl_training.py`` checks
    that both paths give the same log-probs, values and LSTM states.
    """

    def __init__(self, encoder: NetHackEncoder, lstm: nn.LSTM, logits_head: nn.Linear,
                 value_head: nn.Linear) -> None:
        super().__init__()
        if lstm.num_layers != 1 or not lstm.batch_first:
            raise ValueError("ActingStep steps a one-layer, batch-first LSTM")
        self.encoder = encoder
        self.lstm = lstm
        self.logits_head = logits_head
        self.value_head = value_head

    def forward(self, glyphs: torch.Tensor, blstats: torch.Tensor, message: torch.Tensor,
                is_init: torch.Tensor, hidden: torch.Tensor, cell: torch.Tensor,
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        lead = is_init.shape[:-1]  # the envs' batch shape; the LSTM state is [*lead, layers, hidden]
        features = self.encoder(glyphs, blstats, message).reshape(-1, self.encoder.output_size)
        fresh = is_init.reshape(-1, 1)  # a new episode starts from a zero state
        h0 = torch.where(fresh, 0.0, hidden.reshape(fresh.shape[0], -1))
        c0 = torch.where(fresh, 0.0, cell.reshape(fresh.shape[0], -1))
        # one step of the LSTM's own cell: its weights, its equations, no sequence machinery
        lstm = self.lstm
        core, c1 = torch.lstm_cell(features, (h0, c0), lstm.weight_ih_l0, lstm.weight_hh_l0,
                                   lstm.bias_ih_l0, lstm.bias_hh_l0)
        distribution = torch.distributions.Categorical(logits=self.logits_head(core), validate_args=False)
        action = distribution.sample()
        return (action.reshape(lead), distribution.log_prob(action).reshape(lead),
                self.value_head(core).reshape(*lead, 1), core.reshape(hidden.shape), c1.reshape(cell.shape))


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
    acting = TensorDictModule(ActingStep(encoder, lstm.lstm, logits_head, value_head),
                              in_keys=ACTING_IN_KEYS, out_keys=ACTING_OUT_KEYS)
    return ActorCritic(policy=policy, acting=acting, actor=actor, critic=critic, value_head=critic_head, lstm=lstm,
                       modules=modules)
