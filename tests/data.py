"""The labelled NLE messages the tests read (a strong judge's labels; see benchmarks/data/README.md)."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "data"
#: Random play, default and stairs goals: where the helpful messages come from.
DEV_DATA = DATA_DIR / "messages_dev.jsonl"
#: What training agents meet (default, gold, combat, stairs goals), with how often they met each.
AGENTPLAY_DATA = DATA_DIR / "messages_agentplay_dev.jsonl"
