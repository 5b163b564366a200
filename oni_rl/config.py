"""The training run's settings, each declared once: ``python -m oni_rl --help``, the command line
(``--kebab-case``, nested groups as ``--ppo.epochs``, ``--server.goal``), the ``ONI_RL_*``
environment (``ONI_RL_SERVER__GOAL`` for a nested one) and the validation all come from these
fields (pydantic-settings, as the reward server's ``ServerConfig``). The reward server's own
settings are nested whole as ``server``, so every ``python -m reward_server`` option is reachable
from the trainer.

This module imports neither torch nor TorchRL: ``--help`` and config checks stay fast, and other
trainers can read a run's ``config.json`` through it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, CliToggleFlag, SettingsConfigDict

from oni_rl.architecture import PolicyConfig
from oni_rl.tasks import (
    MINIHACK_GOAL_EXAMPLES,
    MINIHACK_GOALS,
    TASKS,
    check_task,
    default_extrinsic_coef,
    default_max_episode_steps,
    is_minihack,
)
from reward_server.config import RewardModelName, ServerConfig
from reward_server.models.registry import REWARD_MODELS

#: the reward server's models (its registry), or "none": the extrinsic reward alone, no server
REWARD_CHOICES: tuple[str, ...] = ("none", *REWARD_MODELS)
RewardType = Literal[REWARD_CHOICES]  # type: ignore[valid-type]

#: keys whose values never reach a run's config.json or checkpoint
SECRET_KEYS = frozenset({"token", "api_key"})
MASK = "***"


class PPOConfig(BaseModel):
    """PPO's hyperparameters (``oni_rl.ppo``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    learning_rate: float = Field(3e-4, gt=0.0, description="Adam's learning rate (shorthand --lr)")
    gamma: float = Field(0.999, gt=0.0, le=1.0, description="discount")
    gae_lambda: float = Field(0.95, ge=0.0, le=1.0, description="GAE's lambda")
    clip_epsilon: float = Field(0.2, gt=0.0, description="PPO's ratio clip")
    entropy_coef: float = Field(0.01, ge=0.0, description="entropy bonus weight (shorthand --entropy-coef)")
    value_coef: float = Field(0.5, ge=0.0, description="critic loss weight")
    max_grad_norm: float = Field(4.0, gt=0.0, description="gradient clip (global norm)")
    epochs: int = Field(2, ge=1, description="passes over each batch (shorthand --epochs)")
    minibatches: int = Field(2, ge=1, description="minibatches of whole sequences per pass (shorthand --minibatches)")


class RunServerConfig(ServerConfig):
    """The reward server's settings as a training run holds them: those of the server it starts in
    its own process (unless --reward-server), and the goal it expects of an external one. Every
    'python -m reward_server' option, with two defaults of the trainer's: any free port, and the
    store in the run folder. ONI_* variables reach it as they reach the server."""

    port: int = Field(0, ge=0, le=65535, description="bind port (0, the default here: any free port)")
    # None until the run folder is known: train() makes it RUN_DIR/oni.sqlite
    store: Path | None = Field(None, description="SQLite file of messages and answers (default: RUN_DIR/oni.sqlite)")
    # excluded from dumps: the run records it once, as `reward`, which it always follows
    reward_model: RewardModelName = Field("retrieval", exclude=True, description=(
        "the same as the trainer's --reward, which sets it (giving both, they must agree)"))


#: short flags for the options typed most, each standing for one nested field; validation moves
#: the value there (so they read None afterwards) and refuses a shorthand and its field disagreeing
SHORTHANDS: dict[str, tuple[str, str]] = {
    "llm": ("server", "llm"),
    "store": ("server", "store"),
    "lr": ("ppo", "learning_rate"),
    "epochs": ("ppo", "epochs"),
    "minibatches": ("ppo", "minibatches"),
    "entropy_coef": ("ppo", "entropy_coef"),
    "hidden_size": ("policy", "hidden_size"),
}


def _flag(*names: str) -> str:
    return "--" + ".".join(name.replace("_", "-") for name in names)


class TrainConfig(BaseSettings):
    """Train a NetHack agent with ONI intrinsic rewards: TorchRL PPO (LSTM policy), multi-process or on
    Ray. By default a reward server starts in this process with the embedded LLM (its options:
    --server.*), and worker processes collect experience through OniRewardWrapper. Everything lands
    in --run-dir: config.json, episodes.csv, TensorBoard scalars, checkpoint.pt, learning_curves.png.
    Every option can also be set as ONI_RL_<OPTION> (ONI_RL_SERVER__GOAL for --server.goal)."""

    model_config = SettingsConfigDict(
        env_prefix="ONI_RL_", env_nested_delimiter="__", cli_prog_name="python -m oni_rl", cli_kebab_case=True,
        cli_implicit_flags=True, cli_hide_none_type=True, cli_avoid_json=True, validate_default=True, extra="forbid",
        hide_input_in_errors=True,  # the input holds the token and the API key
    )

    # ------------------------------------------------------------------------ what is learned
    task: str = Field("NetHackScore-v0", description=(
        f"the task: {', '.join(TASKS)}, or a MiniHack task (MiniHack-KeyRoom-S5-v0, ...; pip install 'oni[minihack]')"))
    reward: RewardType = Field("retrieval", description=(
        "reward model of the server, which sets --server.reward-model ('none': the extrinsic reward only, no server)"))
    frames: int = Field(20_000, ge=0, description="env frames to train for (e.g. 1e9); a resumed run may raise it")
    seed: int = Field(0, description="torch and env seed")
    intrinsic_coef: float = Field(0.4, description="weight of the ONI reward")
    extrinsic_coef: float | None = Field(None, description=(
        "weight of the task reward (default: 0.1 on Score, 10 on the sparse tasks, as the reference)"))
    count_exponent: float = Field(3.0, description="beta in r / N(msg)^beta")
    cross_episode_exponent: float = Field(0.0, ge=0, description=(
        "gamma: a message paid in E earlier episodes of the env pays 1/(1+E)^gamma of its reward, so one "
        "farmed episode after episode pays less and less (0, the paper's: every episode pays it afresh)"))
    max_episode_steps: int | None = Field(None, ge=1, description=(
        "steps before an episode is truncated (default: 5000 on the NetHack tasks, a MiniHack task's own)"))
    rollout: int = Field(64, ge=1, description="steps per env between updates (the LSTM's training sequence length)")

    # --------------------------------------------------------------------------- collection
    workers: int = Field(2, ge=1, description="collector processes (Ray actors with --ray-address)")
    envs_per_worker: int = Field(4, ge=1, description="envs each worker steps as one batched env")
    # batched: one policy on the learner's device acts for every env of the machine in one batch,
    # the envs step in worker processes (TorchRL ParallelEnv, shared memory), as Sample Factory's
    # policy worker does; per-worker: each collector worker runs its own copy of the policy on the
    # CPU for its own envs. Ray always collects per worker (each actor on its own node). auto: the
    # faster where measured (docs/results.md): batched with a GPU learner, per-worker without
    collection: Literal["auto", "batched", "per-worker"] = Field("auto", description=(
        "batched: one policy on the learner's device acts for every env of the machine; per-worker: each worker "
        "process runs its own CPU copy of the policy; auto: batched with a GPU learner, per-worker on the CPU "
        "(the faster, measured)"))
    # APPO-style: a batch is then one worker's envs over workers × rollout steps (same frames per
    # update), up to one update behind the learner (PPO's ratio uses the behaviour policy's stored
    # log-probs, so the objective stays correct)
    async_collection: bool = Field(False, description=(
        "workers keep collecting during updates (APPO-style; batches up to one update stale)"))
    ray_address: str | None = Field(None, description=(
        "collect on Ray: a cluster address, 'auto' (the cluster this machine is in) or 'local' (start Ray here)"))
    learner_threads: int | None = Field(None, ge=1, description=(
        "torch threads of the learner (default: all cores, less one if the LLM may run on this machine)"))
    device: str | None = Field(None, description="learner device (default: cuda when present)")

    # ----------------------------------------------------------------------- run folder
    run_dir: Path = Field(Path("runs/oni"), description=(
        "the run folder (a folder holding a run already gives way to RUN_DIR-2, ... unless --resume)"))
    resume: bool = Field(False, description=(
        "continue from RUN_DIR/checkpoint.pt; refused if the checkpoint's config differs in what is learned"))
    checkpoint_every: int = Field(10, ge=1, description="updates between checkpoints")
    progress: bool = Field(True, description="the progress bar")
    quiet: CliToggleFlag[bool] = Field(False, exclude=True, description="no progress bar (the same as --no-progress)")

    # ---------------------------------------------------------------------- reward server
    reward_server: str | None = Field(None, description=(
        "URL of a running reward server (default: start one in this process, see --server.*); its reward model "
        "and goal must be --reward and --server.goal"))
    token: str | None = Field(None, description=(
        "bearer token the envs send to the reward server (env ONI_TOKEN; default for the in-process server: "
        "--server.token)"))
    allow_server_mismatch: bool = Field(False, description=(
        "train against a --reward-server whose reward model or goal differs from this run's (a warning, not an error)"))

    # ----------------------------------------------------------- nested groups and shorthands
    ppo: PPOConfig = Field(default_factory=PPOConfig, description="PPO's hyperparameters")
    policy: PolicyConfig = Field(default_factory=PolicyConfig, description="the agent's architecture")
    server: RunServerConfig = Field(default_factory=RunServerConfig, description=(
        "the in-process reward server (every 'python -m reward_server' option)"))
    llm: str | None = Field(None, exclude=True, description="shorthand for --server.llm")
    store: Path | None = Field(None, exclude=True, description="shorthand for --server.store")
    lr: float | None = Field(None, exclude=True, description="shorthand for --ppo.learning-rate")
    epochs: int | None = Field(None, exclude=True, description="shorthand for --ppo.epochs")
    minibatches: int | None = Field(None, exclude=True, description="shorthand for --ppo.minibatches")
    entropy_coef: float | None = Field(None, exclude=True, description="shorthand for --ppo.entropy-coef")
    hidden_size: int | None = Field(None, exclude=True, description="shorthand for --policy.hidden-size")

    @field_validator("frames", mode="before")
    @classmethod
    def _scientific_frames(cls, value: object) -> object:
        """``--frames 1e9``: budgets are written in scientific notation, which an int field refuses
        as text; as a float, pydantic takes it when whole and names the field when not."""
        if isinstance(value, str):
            for parse in (int, float):
                with contextlib.suppress(ValueError):
                    return parse(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _each_setting_in_one_place(cls, data: Any) -> Any:
        """Shorthands and ``--quiet`` into the fields they stand for; ``--reward`` into the server's
        reward model; and the nested server built as a settings object, so that ONI_* variables
        reach it whether or not a --server.* flag was given."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.pop("quiet", False) in (True, "true", "True", "1"):
            data["progress"] = False
        groups = {name: _given(data.get(name)) for name in ("ppo", "policy", "server")}
        for short, (group, name) in SHORTHANDS.items():
            value = data.pop(short, None)
            if value is None:
                continue
            given = groups[group].get(name)
            if given is not None and str(given) != str(value):
                raise ValueError(f"{_flag(short)} {value} and {_flag(group, name)} {given} disagree: give one of them")
            groups[group][name] = value
        model = groups["server"].get("reward_model")
        reward = data.get("reward")
        if model is not None and reward is not None and model != reward:
            raise ValueError(f"--reward {reward} and --server.reward-model {model} disagree: --reward sets the "
                             "server's reward model, give one of them")
        reward = data.setdefault("reward", model or cls.model_fields["reward"].default)
        if reward != "none":
            groups["server"]["reward_model"] = reward
        for name in ("ppo", "policy"):
            if groups[name]:
                data[name] = groups[name]
        task = str(data.get("task", cls.model_fields["task"].default))
        if is_minihack(task) and task_known(task) and "goal" not in groups["server"] and "ONI_GOAL" not in os.environ:
            # NetHack's score goal means nothing on a MiniHack task: its own goal, in words
            if task in MINIHACK_GOALS:
                groups["server"]["goal"] = MINIHACK_GOALS[task]
                groups["server"].setdefault("goal_example", list(MINIHACK_GOAL_EXAMPLES[task]))
            elif reward not in ("none", "novelty"):  # the two that never read the goal
                raise ValueError(f"{task} has no goal oni knows: describe it with --server.goal "
                                 "'Pick up the key and unlock the door.' (a sentence of your own)")
        # the trainer's defaults (port 0, store in the run folder) beat ONI_PORT and ONI_STORE,
        # which are meant for a server of its own; anything given explicitly beats both
        try:
            data["server"] = RunServerConfig(**{"port": 0, "store": None, **groups["server"]})
        except ValidationError as exc:  # named as the trainer's flags, not the server's
            raise ValueError("; ".join(f"{_flag('server', *map(str, e['loc']))}: {e['msg']}"
                                       for e in exc.errors())) from None
        return data

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        try:
            return check_task(task)
        except ImportError as exc:  # a MiniHack task without MiniHack: say what to install
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _resolve(self) -> TrainConfig:
        """Defaults that depend on other fields or on this machine, resolved once here."""
        if self.max_episode_steps is None:
            self.max_episode_steps = default_max_episode_steps(self.task)
        if self.extrinsic_coef is None:
            self.extrinsic_coef = default_extrinsic_coef(self.task)
        if self.device is None:
            import torch  # here, not at the top: --help and config checks need no torch

            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if self.collection == "auto":
            self.collection = "batched" if self.device.split(":")[0] == "cuda" else "per-worker"
        if self.token is None:  # the in-process server's own token unless given
            if self.reward_server is None:  # what the in-process server checks (it reads ONI_TOKEN itself)
                self.token = self.server.token.get_secret_value() if self.server.token else None
            else:
                self.token = os.environ.get("ONI_TOKEN")
        return self

    @property
    def frames_per_batch(self) -> int:
        return self.workers * self.envs_per_worker * self.rollout

    def record(self) -> dict[str, Any]:
        """The whole resolved config as JSON types, secrets masked: what ``config.json`` and the
        checkpoint keep. Shorthands are left out (their values are in the fields they stand for),
        so ``TrainConfig(**record)`` rebuilds the same config."""
        return _masked(self.model_dump(mode="json"))


def task_known(task: str) -> bool:
    """Whether ``task`` exists (an unknown one is reported by the task's own check, naming the tasks near it)."""
    try:
        check_task(task)
    except (ValueError, ImportError):
        return False
    return True


def _given(group: object) -> dict[str, Any]:
    """A nested group as the dict of what was given: from a dict, or from a config object."""
    if group is None:
        return {}
    if isinstance(group, BaseModel):
        given = group.model_dump(exclude_unset=True)
        if isinstance(group, ServerConfig):
            given["llm"] = group.llm  # its LLM-dependent defaults were resolved for this one
        return given
    if isinstance(group, dict):
        return dict(group)
    raise TypeError(f"expected a dict or a config object, got {type(group).__name__}")


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if k in SECRET_KEYS and v is not None else _masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value
