"""The one door to litellm: a labelling chat goes out as a chat or as a plain-text completion,
to one server or, through litellm's Router, to several.

Which endpoint (``--llm-endpoint``):

* ``completion`` — ``/v1/completions`` of an OpenAI-compatible server (vLLM, llama.cpp's
  server, ...), with the chat rendered as plain text (:func:`~reward_server.judging.prompts.render_plain`). A list-continuation
  prompt (``many-shot``) must reach the model as written: sent as chat, the server wraps it in a
  chat template and a base model no longer continues the labelled list (through llama.cpp's chat
  endpoint every answer leaned "No").
* ``chat`` — ``/v1/chat/completions`` (any litellm provider), for instruct prompts.
* ``auto`` (default) — ``completion`` for the many-shot logprob prompt on an OpenAI-compatible
  server at ``--api-base``, ``chat`` otherwise (``ServerConfig.endpoint``). The embedded models
  always take ``chat``: their provider renders a base model's chat as plain text itself.

Replies are read into one shape, :class:`LLMReply`; a reply that does not have that shape
raises :class:`MalformedReply` (the judge stores it as unparsable: asking again would get the
same reply). Errors are sorted here too (:func:`classify_failure`): whether a failed call says
something about this request (rejected), about the whole set-up (misconfigured: a missing
provider module, bad credentials, an unknown model) or nothing lasting (transient).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any, Literal

from reward_server.judging.embedded_llm import EMBEDDED_PROVIDER, register_embedded_provider
from reward_server.judging.prompts import render_plain
from reward_server.judging.providers import OPENAI_COMPATIBLE, provider_of, served_name


@cache
def litellm() -> ModuleType:
    """litellm, imported and configured on first use (it takes seconds to import, and a server
    that serves imported labels never calls an LLM: it runs without litellm installed)."""
    # litellm fetches a model cost map from the internet at import unless told not to.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_TELEMETRY", "False")
    import litellm as module

    module.telemetry = False
    module.suppress_debug_info = True
    logging.getLogger("LiteLLM").setLevel(logging.WARNING)  # it logs every call at INFO
    logging.getLogger("LiteLLM Router").setLevel(logging.WARNING)
    return module


logger = logging.getLogger(__name__)
FailureKind = Literal["transient", "rejected", "misconfigured"]

#: The placeholder key OpenAI-compatible servers accept when they check none (vLLM's docs use it).
NO_KEY = "EMPTY"
_ROUTER_GROUP = "oni-judge"


class MalformedReply(ValueError):
    """The provider answered with something that is not a completion (missing choices, ...)."""


@dataclass(frozen=True)
class LLMReply:
    """What one call returned: the text and the first answer token's top alternatives."""

    text: str
    top_logprobs: list[tuple[str, float]]


class LLMCaller:
    """Sends one labelling chat to the configured model, endpoint and server(s)."""

    def __init__(
        self,
        model: str,
        *,
        endpoint: str = "chat",
        api_base: Sequence[str] = (),
        api_key: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        if endpoint not in ("chat", "completion"):
            raise ValueError(f"resolve the endpoint first (got {endpoint!r})")
        self.model = model
        self.endpoint = endpoint
        self.api_base = list(api_base)
        self.timeout = timeout
        if endpoint == "completion":
            if provider_of(model) not in OPENAI_COMPATIBLE or not self.api_base:
                raise ValueError(
                    "--llm-endpoint completion needs an OpenAI-compatible server: --llm hosted_vllm/<model> "
                    "(or openai/<model>) with --api-base"
                )
            # litellm reaches /v1/completions of any OpenAI-compatible server through this provider
            self._call_model = "text-completion-openai/" + served_name(model)
            self._api_key = api_key or NO_KEY
        else:
            self._call_model = model
            self._api_key = api_key
        self.router = self._router() if len(self.api_base) > 1 else None

    def _router(self) -> Any:
        """litellm's Router over every ``--api-base``: each call goes to one server; a failed
        call is retried at once on another, and a failing server is left out for a while."""
        deployments = [
            {"model_name": _ROUTER_GROUP,
             "litellm_params": {"model": self._call_model, "api_base": base, "api_key": self._api_key,
                                "timeout": self.timeout}}
            for base in self.api_base
        ]
        return litellm().Router(
            model_list=deployments, routing_strategy="simple-shuffle", num_retries=len(deployments) - 1,
            allowed_fails=1, cooldown_time=30, retry_after=0, timeout=self.timeout,
        )

    async def load(self) -> bool:
        """Import litellm (and register the embedded provider) off the event loop: an import of
        seconds must not stall the server. False when litellm is not installed: the server then
        serves what its store holds, and every question fails as misconfigured."""
        def load_now() -> None:
            litellm()
            if self.model.startswith(EMBEDDED_PROVIDER + "/"):
                register_embedded_provider()

        try:
            await asyncio.to_thread(load_now)
        except ImportError as exc:
            logger.warning("litellm is not installed (%s): the server serves its stored answers and asks nothing", exc)
            return False
        return True

    async def ask(self, messages: list[dict[str, str]], *, max_tokens: int, top_logprobs: int | None) -> LLMReply:
        """One call, no retries (the judge retries); raises the provider's exceptions."""
        if self.endpoint == "completion":
            params: dict[str, Any] = {"prompt": render_plain(messages)}
            if top_logprobs:
                params["logprobs"] = top_logprobs
        else:
            params = {"messages": messages}
            if top_logprobs:
                params.update(logprobs=True, top_logprobs=top_logprobs)
        params.update(temperature=0.0, max_tokens=max_tokens, timeout=self.timeout)
        if self.model.startswith(EMBEDDED_PROVIDER + "/"):
            register_embedded_provider()  # once per process: the embedded models as a litellm provider
        if self.router is not None:
            call = self.router.atext_completion if self.endpoint == "completion" else self.router.acompletion
            response = await call(model=_ROUTER_GROUP, **params)
        else:
            llm = litellm()
            call = llm.atext_completion if self.endpoint == "completion" else llm.acompletion
            base = self.api_base[0] if self.api_base else None
            response = await call(model=self._call_model, api_base=base, api_key=self._api_key, num_retries=0,
                                  **params)
        return read_reply(response, self.endpoint)


async def close_litellm() -> None:
    """Stop litellm's background logging task, which otherwise outlives the event loop."""
    if "litellm" not in sys.modules:
        return  # never imported: nothing to stop
    from litellm.litellm_core_utils.logging_worker import GLOBAL_LOGGING_WORKER

    await GLOBAL_LOGGING_WORKER.stop(discard_pending=True, timeout=1.0)


def read_reply(response: Any, endpoint: str) -> LLMReply:
    """The text and first-token alternatives of a chat or text-completion response."""
    try:
        choice = response.choices[0]
        if endpoint == "completion":
            text = choice.text or ""
            logprobs = getattr(choice, "logprobs", None)
            tops = getattr(logprobs, "top_logprobs", None) if logprobs is not None else None
            first = tops[0] if tops else {}
            top = [(str(tok), float(lp)) for tok, lp in (first or {}).items()]
        else:
            text = choice.message.content or ""
            logprobs = getattr(choice, "logprobs", None)
            content = getattr(logprobs, "content", None) if logprobs is not None else None
            entries = (content[0].top_logprobs or []) if content else []
            top = [(str(entry.token), float(entry.logprob)) for entry in entries]
    except (IndexError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise MalformedReply(f"{type(exc).__name__}: {exc}; reply: {str(response)[:300]}") from exc
    return LLMReply(str(text), top)


# ------------------------------------------------------------------------------- failures
_UNREACHABLE = ("cannot connect to host", "connect call failed", "connection refused", "name or service not known",
                "nodename nor servname", "temporary failure in name resolution", "no route to host",
                "all connection attempts failed")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_unreachable(exc: BaseException) -> bool:
    """Nothing answered at all (refused connection, unknown host): no reply came back."""
    for link in _chain(exc):
        if isinstance(link, ConnectionRefusedError | socket.gaierror):
            return True
        if any(pattern in str(link).lower() for pattern in _UNREACHABLE):
            return True
    return False


def classify_failure(exc: BaseException) -> FailureKind:
    """``misconfigured``: no call can succeed as set up (credentials, model, provider module);
    ``rejected``: this request can never succeed (a 400: too long, refused content);
    ``transient``: anything else (timeouts, refused connections, 429, 5xx) — worth retrying."""
    if any(isinstance(link, ImportError) for link in _chain(exc)):
        return "misconfigured"  # a provider's module (or litellm itself) is not installed
    llm = litellm()
    if isinstance(exc, llm.AuthenticationError | llm.PermissionDeniedError | llm.NotFoundError):
        return "misconfigured"
    text = str(exc).lower()
    if any(pattern in text for pattern in ("no module named", "missing credentials", "llm provider not provided")):
        return "misconfigured"
    if isinstance(exc, llm.BadRequestError):
        return "rejected"
    return "transient"


def failure_hint(exc: BaseException, model: str, api_base: Sequence[str]) -> str:
    """What a user should do about a failed first question (the preflight's message)."""
    text = str(exc)
    lowered = text.lower()
    name = served_name(model)
    if provider_of(model) == "vllm" and "no module named 'vllm'" in lowered:
        return (f"--llm {model} runs vLLM inside this process, which needs the vllm package and a GPU. "
                f"For a vLLM server use: --llm hosted_vllm/{name} --api-base http://<host>:8000/v1")
    for link in _chain(exc):
        if isinstance(link, ImportError) and getattr(link, "name", None):
            return f"the provider of --llm {model} needs the Python package {link.name!r}: pip install {link.name}"
    if "no module named" in lowered:
        return f"the provider of --llm {model} needs a Python package that is not installed: {text[:200]}"
    if "llm provider not provided" in lowered:
        return (f"litellm does not know the provider of {model!r}: use a litellm model string, e.g. "
                f"hosted_vllm/{name} --api-base http://<host>:8000/v1")
    llm = litellm()
    if isinstance(exc, llm.AuthenticationError | llm.PermissionDeniedError) or "missing credentials" in lowered:
        return "the LLM server refused the credentials: pass --api-key (or set ONI_LLM_API_KEY)"
    if isinstance(exc, llm.NotFoundError):
        return f"the LLM server does not serve a model named {name!r}: check the part of --llm after the provider"
    if is_unreachable(exc):
        where = ", ".join(api_base) if api_base else "the provider's default address"
        return f"nothing answers at {where}: start the model server or fix --api-base"
    return f"{type(exc).__name__}: {text[:300]}"
