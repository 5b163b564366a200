"""What a litellm model string says about its provider (kept free of litellm: config reads it)."""

from __future__ import annotations

#: Providers that speak the OpenAI HTTP API to a server at ``--api-base``; their
#: ``/v1/completions`` endpoint takes a plain-text prompt.
OPENAI_COMPATIBLE = ("hosted_vllm", "openai", "text-completion-openai")


def provider_of(model: str) -> str:
    """``hosted_vllm`` of ``hosted_vllm/meta-llama/Llama-3.1-8B``; empty for a bare name."""
    return model.split("/", 1)[0] if "/" in model else ""


def served_name(model: str) -> str:
    """The model name the server knows: ``meta-llama/Llama-3.1-8B`` of the string above."""
    return model.split("/", 1)[1] if "/" in model else model
