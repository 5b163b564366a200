"""Settings are declared once (ServerConfig's fields): the command line, its help, the ONI_*
environment and the judge's settings all come from them."""

from __future__ import annotations

from dataclasses import fields

import pytest

from reward_server.cli import main
from reward_server.config import ServerConfig
from reward_server.judging.judge import JudgeConfig
from reward_server.service import judge_config


def test_help_lists_every_setting_with_its_description(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name, field in ServerConfig.model_fields.items():
        assert f"--{name.replace('_', '-')}" in text, name
        assert field.description, f"{name} has no help text"


def test_flags_and_environment_reach_the_settings(monkeypatch):
    from pydantic_settings import CliApp

    monkeypatch.setenv("ONI_PORT", "9999")
    monkeypatch.setenv("ONI_LLM_API_KEY", "from-env")
    config = CliApp.run(ServerConfig, cli_args=["--api-base", "http://a/v1", "--api-base", "http://b/v1",
                                                "--llm", "hosted_vllm/m", "--no-preflight", "--decompose"])
    assert config.port == 9999 and config.api_key is not None and config.api_key.get_secret_value() == "from-env"
    assert config.api_base == ["http://a/v1", "http://b/v1"] and config.preflight is False and config.decompose


def test_bad_settings_are_a_clear_error(capsys):
    assert main(["--port", "70000"]) == 2
    assert "port" in capsys.readouterr().err


@pytest.mark.parametrize("env", [False, True], ids=["flags", "environment"])
def test_a_bad_config_never_prints_the_token_or_the_api_key(capsys, monkeypatch, env):
    # a cross-field error (a public --host without a token): pydantic would print every input with it
    secrets = {"token": "tok-SECRET-1", "api_key": "key-SECRET-2"}
    if env:
        monkeypatch.setenv("ONI_LLM_API_KEY", secrets["api_key"])
        monkeypatch.setenv("ONI_TOKEN", secrets["token"])
        args = ["--port", "70000", "--host", "0.0.0.0"]
    else:
        args = ["--api-key", secrets["api_key"], "--token", secrets["token"], "--port", "70000", "--llm-endpoint",
                "completion"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "port" in captured.err and "invalid settings" in captured.err
    for secret in secrets.values():
        assert secret not in captured.err + captured.out
    config = ServerConfig(token=secrets["token"], api_key=secrets["api_key"])
    assert secrets["token"] not in repr(config) and secrets["api_key"] not in repr(config)


def test_the_judge_takes_its_settings_from_the_server_by_name():
    config = ServerConfig(llm="hosted_vllm/m", api_base="http://a/v1", llm_timeout=7.0, llm_retries=1,
                          part_cache_size=10, prompt_style="paper", decompose=True)
    judge = judge_config(config)
    shared = [f.name for f in fields(JudgeConfig) if f.name in ServerConfig.model_fields or f.name == "endpoint"]
    assert all(getattr(judge, name) == (tuple(v) if isinstance(v := getattr(config, name), list) else v)
               for name in shared)
    assert judge.llm_timeout == 7.0 and judge.api_base == ("http://a/v1",) and judge.endpoint == "chat"
