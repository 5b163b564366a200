"""``python -m reward_server``: serve ONI intrinsic rewards from an LLM's judgements."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from reward_server.config import ServerConfig
from reward_server.judging.embedded_llm import DEFAULT_EMBEDDED_MODEL
from reward_server.judging.prompts import GOALS, PROMPT_STYLES


def build_parser() -> argparse.ArgumentParser:
    defaults = ServerConfig()
    p = argparse.ArgumentParser(
        prog="python -m reward_server",
        description="Reward server for ONI: collects NetHack messages from OniRewardWrappers, "
        "labels them with an LLM (via litellm), stores every answer, and serves the reward table. "
        "'python -m reward_server export|import FILE --store DB' moves the stored answers as JSON Lines.",
    )
    p.add_argument("--llm", default=DEFAULT_EMBEDDED_MODEL,
                   help="litellm model string, e.g. hosted_vllm/meta-llama/Llama-3.1-8B-Instruct "
                   f"(default: {DEFAULT_EMBEDDED_MODEL}, the embedded CPU model)")
    p.add_argument("--api-base", nargs="+", default=[],
                   help="base URL of the model server, e.g. http://gpu-host:8000/v1; several: calls are spread "
                   "across them with litellm's Router, which fails over when one is down")
    p.add_argument("--llm-endpoint", choices=["auto", "chat", "completion"], default=defaults.llm_endpoint,
                   help="completion: the server's /v1/completions with the prompt as plain text (list prompts, "
                   "base models); chat: /v1/chat/completions; auto: completion for the many-shot prompt on a "
                   "server at --api-base, chat otherwise")
    p.add_argument("--preflight", action=argparse.BooleanOptionalAction, default=defaults.preflight,
                   help="ask the LLM one question at start and exit with a hint if no call can succeed "
                   "(missing provider module, bad credentials, unknown model, nothing at --api-base)")
    p.add_argument("--api-key", default=os.environ.get("ONI_LLM_API_KEY"),
                   help="API key for the model server (env ONI_LLM_API_KEY)")
    p.add_argument("--host", default=defaults.host, help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=defaults.port)
    p.add_argument("--store", type=Path, default=defaults.store, help="SQLite file (created)")
    p.add_argument("--reward-model", choices=["retrieval", "classification", "ranking"],
                   default=defaults.reward_model,
                   help="retrieval: the LLM label is the reward; classification: a classifier distilled "
                   "from the labels rewards every message; ranking: a Bradley-Terry model of LLM pairwise "
                   "preferences (online Motif)")
    p.add_argument("--train-every", type=int, default=defaults.train_every,
                   help="learned models: refit after this many new labels/preferences")
    p.add_argument("--train-interval", type=float, default=defaults.train_interval,
                   help="learned models: or this many seconds after the first unfitted one")
    p.add_argument("--decision-threshold", type=float, default=defaults.decision_threshold,
                   help="classification: predicted probability at which a message pays 1")
    p.add_argument("--rank-threshold", type=float, default=defaults.rank_threshold,
                   help="ranking: normalised score z above which a message pays z (else 0)")
    p.add_argument("--pairs-per-message", type=int, default=defaults.pairs_per_message,
                   help="ranking: LLM comparisons asked per distinct message")
    p.add_argument("--preferences", choices=["auto", "pairwise", "labels"], default="auto",
                   help="ranking: pairwise (the paper's question about two messages) or labels (P(a > b) from the "
                   "difference of the two messages' log-odds, each message asked once); auto: labels for the "
                   "embedded models, whose pairwise answers are at chance, pairwise for any other --llm")
    p.add_argument("--goal", choices=GOALS, default=defaults.goal)
    p.add_argument("--label-mode", choices=["generate", "logprob"], default=defaults.label_mode,
                   help="generate: chain-of-thought then parse (big models); "
                   "logprob: one forward pass, label from yes/no log-odds (small models)")
    p.add_argument("--prompt-style", choices=list(PROMPT_STYLES), default=None,
                   help="logprob prompt: many-shot (32 labelled messages to continue; base models), "
                   "paper (the paper's four worked examples as chat turns; SmolLM2), families (twelve "
                   "as chat turns) or compact (none). Default: the style measured best for an embedded "
                   "model, many-shot for any other")
    p.add_argument("--decompose", action=argparse.BooleanOptionalAction, default=None,
                   help="judge each message of an NLE line on its own and keep the best part's score. "
                   "Default: on for the embedded Gemma 3 270M (measured best), off for other models")
    p.add_argument("--label-words", choices=["yes-no", "foo-bar", "one-zero"], default=defaults.label_words,
                   help="the two answer words whose log-odds give the label (logprob mode)")
    p.add_argument("--calibration", choices=["examples", "quantile", "fixed"], default=defaults.calibration,
                   help="logprob cut: examples (set from the judge's scores of labelled calibration messages, "
                   "--positive-share a ceiling), quantile (a quota: the top --positive-share), fixed (--threshold)")
    p.add_argument("--positive-share", type=float, default=defaults.positive_share,
                   help="share of messages labelled helpful: at most (examples), exactly (quantile)")
    p.add_argument("--threshold", type=float, default=defaults.threshold,
                   help="fixed log-odds cut (and the cut until the calibration messages are scored)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size,
                   help="annotations committed (and published) per batch")
    p.add_argument("--concurrency", type=int, default=defaults.concurrency,
                   help="LLM requests in flight")
    p.add_argument("--max-queue", type=int, default=defaults.max_queue,
                   help="messages held in memory for the LLM; more wait in the store (refilled when it runs dry)")
    p.add_argument("--llm-timeout", type=float, default=defaults.llm_timeout)
    p.add_argument("--llm-max-tokens", type=int, default=defaults.llm_max_tokens,
                   help="generate mode: tokens an answer may use")
    p.add_argument("--llm-retries", type=int, default=defaults.llm_retries,
                   help="retries per LLM call (exponential backoff with jitter)")
    p.add_argument("--breaker-failures", type=int, default=defaults.breaker_failures,
                   help="consecutive LLM failures that open the circuit breaker")
    p.add_argument("--breaker-reset", type=float, default=defaults.breaker_reset,
                   help="seconds the open breaker waits before one probe call")
    p.add_argument("--token", default=os.environ.get("ONI_TOKEN"),
                   help="require 'Authorization: Bearer TOKEN' (env ONI_TOKEN)")
    p.add_argument("--insecure-no-token", action="store_true",
                   help="serve a --host other than loopback without a token (anyone who reaches it may post)")
    p.add_argument("--degraded-after", type=float, default=defaults.degraded_after,
                   help="seconds the LLM circuit breaker may stay open before /healthz answers 503 degraded")
    p.add_argument("--log-level", default="INFO")
    return p


def build_transfer_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reward_server {export,import}",
        description="Move a store's LLM answers (labels and preferences) to or from a JSON Lines file, "
        "so labels made with one LLM or machine seed another run.",
    )
    p.add_argument("action", choices=["export", "import"])
    p.add_argument("file", type=Path, help="the JSON Lines file to write (export) or read (import)")
    p.add_argument("--store", type=Path, default=ServerConfig().store, help="SQLite file of the server")
    return p


def transfer(argv: list[str]) -> int:
    """``export FILE`` / ``import FILE``: the annotation store as JSON Lines."""
    from reward_server.storage.store import Store
    from reward_server.storage.transfer import BadImportFile, export_jsonl, import_jsonl

    args = build_transfer_parser().parse_args(argv)
    if args.action == "import" and not args.file.exists():
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2
    if args.action == "export" and not args.store.exists():
        print(f"no such store: {args.store} (pass --store with the server's SQLite file)", file=sys.stderr)
        return 2
    with Store(args.store) as store:
        if args.action == "export":
            annotations, preferences = export_jsonl(store, args.file)
            print(f"exported {annotations} annotations and {preferences} preferences to {args.file}")
            return 0
        try:
            annotations, preferences = import_jsonl(store, args.file, ServerConfig.model_fields["max_message_chars"].default)
        except BadImportFile as exc:
            print(f"nothing imported: {exc}", file=sys.stderr)
            return 2
    print(f"imported {annotations} annotations and {preferences} preferences into {args.store}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("export", "import"):
        return transfer(argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = {k: v for k, v in vars(args).items() if k != "log_level"}
    try:
        config = ServerConfig(**options)
    except ValidationError as exc:
        print(f"invalid settings:\n{exc}", file=sys.stderr)
        return 2
    from aiohttp import web

    from reward_server.api.app import create_app
    from reward_server.judging.judge import LLMPreflightFailed

    print(f"oni reward server on http://{config.host}:{config.port}  llm={config.llm}  "
          f"store={config.store}  goal={config.goal}  mode={config.label_mode}  prompt={config.prompt_style}  "
          f"endpoint={config.endpoint}  reward model={config.reward_model}", flush=True)
    try:
        web.run_app(create_app(config), host=config.host, port=config.port, print=None)
    except LLMPreflightFailed as exc:
        print(f"error: {exc}\n(--no-preflight starts anyway)", file=sys.stderr)
        return 2
    return 0
