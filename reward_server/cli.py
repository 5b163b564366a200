"""``python -m reward_server``: serve ONI intrinsic rewards from an LLM's judgements."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, CliApp, SettingsError

from reward_server.config import ServerConfig


def build_transfer_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m reward_server {export,import}",
        description="Move a store's LLM answers (labels and preferences) to or from a JSON Lines file, "
        "so labels made with one LLM or machine seed another run. Export reads a consistent snapshot "
        "(a server may be running); import needs the store to itself (stop its server first).",
    )
    p.add_argument("action", choices=["export", "import"])
    p.add_argument("file", type=Path, help="the JSON Lines file to write (export) or read (import)")
    p.add_argument("--store", type=Path, default=ServerConfig.model_fields["store"].default,
                   help="SQLite file of the server")
    p.add_argument("--max-message-chars", type=int, default=None,
                   help="import: longest text taken (default: the limit of the last server that served the "
                   "store, else the server's default)")
    return p


def transfer(argv: list[str]) -> int:
    """``export FILE`` / ``import FILE``: the annotation store as JSON Lines."""
    from reward_server.storage.store import MESSAGE_LIMIT_KEY, Store, StoreError
    from reward_server.storage.transfer import BadImportFile, export_jsonl, import_jsonl

    args = build_transfer_parser().parse_args(argv)
    if args.action == "import" and not args.file.exists():
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2
    if args.action == "export" and not args.store.exists():
        print(f"no such store: {args.store} (pass --store with the server's SQLite file)", file=sys.stderr)
        return 2
    try:
        if args.action == "export":
            with Store(args.store, readonly=True) as store:
                annotations, preferences = export_jsonl(store, args.file)
            print(f"exported {annotations} annotations and {preferences} preferences to {args.file}")
            return 0
        with Store(args.store) as store:  # the store's lock: refused while a server runs on it
            limit = args.max_message_chars or int(store.get_meta(MESSAGE_LIMIT_KEY)
                                                  or ServerConfig.model_fields["max_message_chars"].default)
            annotations, preferences = import_jsonl(store, args.file, limit)
    except BadImportFile as exc:
        print(f"nothing imported: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"nothing {args.action}ed: {exc}", file=sys.stderr)
        return 2
    print(f"imported {annotations} annotations and {preferences} preferences into {args.store}")
    _say_which_questions(args.file)
    return 0


def _say_which_questions(path: Path) -> None:
    """Which questions the imported labels answer, and whether this version's server asks them: a
    server uses stored answers only under its own question key, and the key holds the prompt's
    version, so labels made with another prompt (or another --llm or --goal) are never read."""
    from reward_server.service.reward_service import annotation_key
    from reward_server.storage.transfer import annotation_keys

    for key, count in annotation_keys(path).items():
        try:
            asked = annotation_key(ServerConfig(llm=key.model, goal=key.goal, label_mode=key.label_mode))
        except ValidationError:
            asked = None
        where = f"{count} labels: --llm {key.model} --goal {key.goal} --label-mode {key.label_mode}"
        if asked is not None and asked.prompt_version == key.prompt_version:
            print(f"  {where}: a default server with these options uses them")
        else:
            print(f"  warning: {where}, prompt version {key.prompt_version}: a default server with these options "
                  f"asks another question ({asked.prompt_version if asked else 'none'}) and will not use them; "
                  "serve them with the prompt options that made them, or label again", file=sys.stderr)


def settings_errors(exc: ValidationError) -> str:
    """One line per error, without the input values: they may hold the token or the API key."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)


Settings = TypeVar("Settings", bound=BaseSettings)


def settings_from_cli(settings: type[Settings], argv: list[str]) -> Settings | None:
    """The settings a command line (and the environment) give, or ``None`` after saying on stderr
    what is wrong: one line per error, no input values (``--help`` exits inside)."""
    try:
        return CliApp.run(settings, cli_args=argv)
    except ValidationError as exc:
        print(f"invalid settings:\n{settings_errors(exc)}", file=sys.stderr)
    except SettingsError as exc:
        print(f"invalid settings: {exc}", file=sys.stderr)
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("export", "import"):
        return transfer(argv)
    # every option, its help and its ONI_* variable come from ServerConfig's fields
    config = settings_from_cli(ServerConfig, argv)
    if config is None:
        return 2
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from aiohttp import web

    from reward_server.api import create_app
    from reward_server.api.app import runner_options
    from reward_server.judging.judge import LLMPreflightFailed
    from reward_server.storage.store import StoreError

    print(f"oni reward server on http://{config.host}:{config.port}  llm={config.llm}  "
          f"store={config.store}  goal={config.goal}  mode={config.label_mode}  prompt={config.prompt_style}  "
          f"endpoint={config.endpoint}  reward model={config.reward_model}", flush=True)
    try:
        web.run_app(create_app(config), host=config.host, port=config.port, print=None,
                    **runner_options(config))  # type: ignore[arg-type]
    except LLMPreflightFailed as exc:
        print(f"error: {exc}\n(--no-preflight starts anyway)", file=sys.stderr)
        return 2
    except StoreError as exc:  # in use by another server, or not a database
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:  # a store damaged past its first pages
        print(f"error: the store {config.store} cannot be read (SQLite: {exc}); restore it from a copy, "
              "or move it aside and start with an empty one", file=sys.stderr)
        return 2
    return 0
