from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from reward_server import ServerConfig
from reward_server.runner import BackgroundServer
from tests.fake_llm import FakeLLMServer


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer().start()
    yield server
    server.stop()


def fake_config(fake: FakeLLMServer, store: Path, **overrides: object) -> ServerConfig:
    """A server config that labels with the fake LLM (fast, predictable, fault-injectable)."""
    settings: dict[str, object] = {
        "llm": "openai/fake-judge", "api_base": fake.api_base, "api_key": "not-needed", "store": store,
        "port": 0, "calibration": "fixed", "threshold": 0.0, "llm_timeout": 5.0,
        "preflight": False,  # its one question would skew the tests' request counts; tested on its own
    }
    settings.update(overrides)
    return ServerConfig(**settings)


@pytest.fixture
def fake_server(fake_llm: FakeLLMServer, tmp_path: Path) -> Iterator[BackgroundServer]:
    with BackgroundServer(fake_config(fake_llm, tmp_path / "oni.sqlite")) as server:
        yield server


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``sample_factory`` build Sample Factory's own environment (minutes, from the
    package registries) and run only when asked for by name: ``pytest -m sample_factory``. Any
    other run, ``-m "not llm"`` included, reports them as skipped."""
    if "sample_factory" in (config.option.markexpr or "") and "not sample_factory" not in config.option.markexpr:
        return
    skip = pytest.mark.skip(reason="Sample Factory's environment: run with pytest -m sample_factory")
    for item in items:
        if "sample_factory" in item.keywords:
            item.add_marker(skip)
