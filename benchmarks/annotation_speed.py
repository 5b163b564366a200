"""Labels/s of the embedded LLM: ``generate`` (chain of thought) vs ``logprob`` (one pass).

Both modes label the same messages through the server's own judge (litellm → embedded
provider), one after the other in the same process; the ratio is the target (logprob >= 10x).

    python benchmarks/annotation_speed.py --messages 20 --data ../shared/data/messages_dev.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from reward_server.embedded_llm import DEFAULT_EMBEDDED_MODEL
from reward_server.judge import JudgeConfig, LLMJudge


async def rate(judge: LLMJudge, messages: list[str], goal: str) -> tuple[float, int]:
    await judge.judge("warm-up: load the model and fill the prompt cache", goal)
    parsed = 0
    started = time.perf_counter()
    for message in messages:
        parsed += (await judge.judge(message, goal)).parsed
    return len(messages) / (time.perf_counter() - started), parsed


async def run(args: argparse.Namespace) -> None:
    rows = [json.loads(line) for line in Path(args.data).read_text().splitlines() if line.strip()]
    messages = [r["message"] for r in rows][: args.messages]
    results = {}
    for mode in ("logprob", "generate"):
        judge = LLMJudge(JudgeConfig(model=args.llm, label_mode=mode, max_tokens=args.max_tokens))
        results[mode] = await rate(judge, messages, args.goal)
        print(f"{mode:9s} {results[mode][0]:7.2f} labels/s  ({results[mode][1]}/{len(messages)} answers parsed)")
    print(f"ratio logprob/generate: {results['logprob'][0] / results['generate'][0]:.1f}x  (target >= 10x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--llm", default=DEFAULT_EMBEDDED_MODEL)
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/messages_dev.jsonl"))
    p.add_argument("--messages", type=int, default=20)
    p.add_argument("--goal", default="default")
    p.add_argument("--max-tokens", type=int, default=512, help="generate mode's answer budget")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
