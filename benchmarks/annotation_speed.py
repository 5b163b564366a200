"""Labels/s of the embedded LLM: ``generate`` (chain of thought) vs ``logprob`` (one pass).

Both modes label the same messages through the server's own judge (litellm → embedded
provider), one after the other in the same process; the ratio is the target (logprob >= 10x).
For the embedded model it first measures what the litellm path costs over calling llama.cpp
directly (interleaved, same process), and, with ``--llama-cpp-server``, what the same model
costs behind llama.cpp's OpenAI-compatible server (the remote path: ``hosted_vllm/...`` with
``--api-base``, the many-shot prompt as a plain-text completion) against the embedded provider,
both over the same messages in the same run.

    python -m benchmarks.annotation_speed --messages 20
    python -m benchmarks.annotation_speed --messages 20 --llama-cpp-server
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from benchmarks.common import DEV_DATA
from reward_server.judging.embedded_llm import DEFAULT_EMBEDDED_MODEL, register_embedded_provider
from reward_server.judging.judge import JudgeConfig, LLMJudge
from reward_server.judging.prompts import logprob_messages


async def rate(judge: LLMJudge, messages: list[str], goal: str) -> tuple[float, int]:
    await judge.judge("warm-up: load the model and fill the prompt cache", goal)
    parsed = 0
    started = time.perf_counter()
    for message in messages:
        parsed += (await judge.judge(message, goal)).parsed
    return len(messages) / (time.perf_counter() - started), parsed


async def litellm_overhead(messages: list[str], goal: str) -> None:
    """Embedded model only: the judge (litellm → custom provider) vs llama.cpp called directly.

    Interleaved, both sides over (nearly) the same messages, but never the same message twice in
    a row: a repeated prompt is served almost whole from llama.cpp's KV cache and would make
    either side look fast. So the judge takes message i while llama.cpp takes message i-1.
    """
    judge = LLMJudge(JudgeConfig(llm=DEFAULT_EMBEDDED_MODEL))
    model = register_embedded_provider().models.get(DEFAULT_EMBEDDED_MODEL)
    await judge.judge("warm-up: load the model and fill the prompt cache", goal)
    through_judge = direct = 0.0
    pairs = list(zip(messages[1:], messages[:-1]))
    for via_judge, via_direct in pairs:
        started = time.perf_counter()
        await judge.judge(via_judge, goal)
        through_judge += time.perf_counter() - started
        started = time.perf_counter()
        model.first_token_logprobs(logprob_messages(via_direct, goal), judge.config.top_logprobs)
        direct += time.perf_counter() - started
    print(f"logprob through litellm {1e3 * through_judge / len(pairs):6.1f} ms/label, llama.cpp directly "
          f"{1e3 * direct / len(pairs):6.1f} ms/label: litellm path costs {through_judge / direct:.2f}x")


async def remote_vs_embedded(messages: list[str], goal: str) -> None:
    """The embedded Gemma through its provider vs behind ``python -m llama_cpp.server``."""
    from tests.llama_server import SERVED_NAME, LlamaCppServer

    server = LlamaCppServer().start()
    try:
        remote = LLMJudge(JudgeConfig(llm=f"hosted_vllm/{SERVED_NAME}", api_base=(server.api_base,),
                                      endpoint="completion"))
        local = LLMJudge(JudgeConfig(llm=DEFAULT_EMBEDDED_MODEL))
        local_rate, local_parsed = await rate(local, messages, goal)
        remote_rate, remote_parsed = await rate(remote, messages, goal)
    finally:
        server.stop()
    print(f"embedded provider      {local_rate:7.2f} labels/s ({local_parsed}/{len(messages)} parsed)")
    print(f"llama.cpp server       {remote_rate:7.2f} labels/s ({remote_parsed}/{len(messages)} parsed, "
          f"/v1/completions): {remote_rate / local_rate:.2f}x the embedded provider")


async def run(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()]
    messages = [r["message"] for r in rows][: args.messages]
    if args.llama_cpp_server:
        await remote_vs_embedded(messages, args.goal)
        return
    if args.llm == DEFAULT_EMBEDDED_MODEL:
        await litellm_overhead(messages, args.goal)
    results = {}
    for mode in ("logprob", "generate"):
        judge = LLMJudge(JudgeConfig(llm=args.llm, label_mode=mode, llm_max_tokens=args.max_tokens))
        results[mode] = await rate(judge, messages, args.goal)
        print(f"{mode:9s} {results[mode][0]:7.2f} labels/s  ({results[mode][1]}/{len(messages)} answers parsed)")
    print(f"ratio logprob/generate: {results['logprob'][0] / results['generate'][0]:.1f}x  (target >= 10x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--llm", default=DEFAULT_EMBEDDED_MODEL)
    p.add_argument("--data", default=str(DEV_DATA))
    p.add_argument("--messages", type=int, default=20)
    p.add_argument("--goal", default="default")
    p.add_argument("--max-tokens", type=int, default=512, help="generate mode's answer budget")
    p.add_argument("--llama-cpp-server", action="store_true",
                   help="compare the embedded provider with the same model behind llama.cpp's server")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
