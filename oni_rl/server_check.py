"""Checking that an external reward server (``--reward-server URL``) serves what the run asks for.

An external server is configured on its own command line, so nothing ties its reward model and
goal to the trainer's ``--reward`` and ``--server.goal``: a run labelled "classification, gold"
could silently train on a retrieval server's default goal. Its ``/v1/stats`` says what it
serves; a difference is refused (or, with ``--allow-server-mismatch``, logged loudly). A server
that cannot be reached is only warned about: the wrapper pays the extrinsic reward until it
answers, as it always has.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

log = logging.getLogger(__name__)


class ServerMismatch(RuntimeError):
    """The external reward server serves another reward model or goal, or refuses our token."""


class ServedReward(BaseModel):
    """What ``/v1/stats`` says about the reward a server pays (the rest of its figures are ignored)."""

    model_config = ConfigDict(extra="ignore")

    reward_model: str
    goal: str
    goal_examples: list[str] = []  # a server from before goals in words shows none
    goal_counterexamples: list[str] = []  # nor counterexamples
    llm: str | None = None


def check_reward_server(url: str, *, reward: str, goal: str, goal_examples: Sequence[str] = (),
                        goal_counterexamples: Sequence[str] = (), token: str | None = None, allow_mismatch: bool = False,
                        timeout: float = 10.0) -> ServedReward | None:
    """What the server at ``url`` serves, after checking it is ``reward`` and ``goal``.

    Raises :class:`ServerMismatch` on a difference (unless ``allow_mismatch``: then a warning) and
    when the server refuses the token (every call the wrapper makes would be refused too). Returns
    None, with a warning, when the server cannot be asked.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.get(f"{url.rstrip('/')}/v1/stats", headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        log.warning("reward server %s not reachable (%s): its reward model and goal are NOT checked; the "
                    "envs pay the extrinsic reward alone until it answers", url, exc)
        return None
    if response.status_code == 403 and "host name" in response.text:
        raise ServerMismatch(f"the reward server at {url} does not answer to that host name: start it with a "
                             "--token (then any name works) or with --allowed-host NAME")
    if response.status_code in (401, 403):
        raise ServerMismatch(f"the reward server at {url} refused our token (HTTP {response.status_code}): "
                             "pass its token with --token or ONI_TOKEN")
    try:
        response.raise_for_status()
        served = ServedReward.model_validate_json(response.content)
    except (httpx.HTTPError, ValidationError) as exc:
        log.warning("reward server %s gave no usable /v1/stats (%s): its reward model and goal are NOT checked",
                    url, exc)
        return None
    asked = {"reward model (--reward)": (reward, served.reward_model), "goal (--server.goal)": (goal, served.goal),
             "goal examples (--server.goal-example)": (list(goal_examples), served.goal_examples),
             # their order changes nothing (each only raises the cut)
             "goal counterexamples (--server.goal-counterexample)": (sorted(goal_counterexamples),
                                                                   sorted(served.goal_counterexamples))}
    wrong = {name: pair for name, pair in asked.items() if pair[0] != pair[1]}
    if not wrong:
        log.info("reward server %s serves %s rewards for goal %s (llm %s)", url, served.reward_model, served.goal,
                 served.llm)
        return served
    details = "; ".join(f"{name}: this run asks for {a!r}, the server serves {b!r}" for name, (a, b) in wrong.items())
    if not allow_mismatch:
        raise ServerMismatch(f"the reward server at {url} does not serve what this run asks for: {details}. "
                             "Start the server with the run's settings, change the run's, or pass "
                             "--allow-server-mismatch to train anyway")
    log.warning("!!! the reward server at %s does not serve what this run asks for: %s. Training anyway "
                "(--allow-server-mismatch): this run's config does not describe its reward", url, details)
    return served
