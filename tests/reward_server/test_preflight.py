"""The preflight: at start the server asks its LLM one real question and exits with a hint when
no call can succeed; transient trouble only warns."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from reward_server import ServerConfig
from tests.helpers import free_port, wait_for


def run_server(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Start ``python -m reward_server`` expecting it to exit on its own."""
    cmd = [sys.executable, "-m", "reward_server", "--port", str(free_port()), "--log-level", "WARNING", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def test_vllm_in_process_without_vllm_exits_fast_naming_hosted_vllm(tmp_path):
    started = time.monotonic()
    done = run_server("--llm", "vllm/llama3-70b", "--store", str(tmp_path / "s.sqlite"), timeout=30)
    assert time.monotonic() - started < 30
    assert done.returncode == 2
    assert "hosted_vllm/llama3-70b --api-base" in done.stderr and "GPU" in done.stderr
    assert not (tmp_path / "s.sqlite").exists()  # nothing was set up for a server that cannot label


def test_nothing_listening_at_the_api_base_exits(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    done = run_server("--llm", "hosted_vllm/some-model", "--api-base", dead, "--store", str(tmp_path / "s.sqlite"))
    assert done.returncode == 2
    assert f"nothing answers at {dead}" in done.stderr


def test_an_unknown_provider_exits(tmp_path):
    done = run_server("--llm", "nosuchprovider/model", "--store", str(tmp_path / "s.sqlite"))
    assert done.returncode == 2
    assert "litellm does not know the provider" in done.stderr


def test_refused_credentials_exit(fake_llm, tmp_path):
    fake_llm.behaviour.fail_first, fake_llm.behaviour.fail_status = 10**6, 401
    done = run_server("--llm", "openai/fake-judge", "--api-base", fake_llm.api_base, "--api-key", "wrong",
                      "--store", str(tmp_path / "s.sqlite"))
    assert done.returncode == 2
    assert "refused the credentials" in done.stderr and "--api-key" in done.stderr


def output_once_healthy(*args: str) -> str:
    """Start ``python -m reward_server``, wait until it answers /healthz, stop it: its output."""
    port = free_port()
    cmd = [sys.executable, "-m", "reward_server", "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert wait_for(healthy, timeout=60), "the server did not start"
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    return output


def test_a_transient_error_warns_and_starts(fake_llm, tmp_path):
    fake_llm.behaviour.fail_first, fake_llm.behaviour.fail_status = 1, 503
    output = output_once_healthy("--llm", "openai/fake-judge", "--api-base", fake_llm.api_base, "--api-key", "x",
                                 "--store", str(tmp_path / "s.sqlite"))
    assert "LLM preflight" in output and "starting anyway" in output


def test_no_preflight_starts_whatever_the_llm(tmp_path):
    output = output_once_healthy("--llm", "vllm/llama3-70b", "--no-preflight", "--store", str(tmp_path / "s.sqlite"))
    assert "LLM preflight" not in output and "oni reward server on" in output


def test_the_preflight_reports_the_answer(fake_llm, tmp_path):
    output = output_once_healthy("--llm", "openai/fake-judge", "--api-base", fake_llm.api_base, "--api-key", "x",
                                 "--store", str(tmp_path / "s.sqlite"), "--log-level", "INFO")
    assert "completion endpoint" in output and "'You kill the newt!': log-odds +2.30" in output
    assert fake_llm.behaviour.questions[0].endswith('Message: "You kill the newt!"\nHelpful:')


def test_vllm_with_an_api_base_means_that_server():
    config = ServerConfig(llm="vllm/meta-llama/Llama-3.1-8B", api_base="http://gpu:8000/v1")
    assert config.llm == "hosted_vllm/meta-llama/Llama-3.1-8B" and config.api_base == ["http://gpu:8000/v1"]
    assert config.endpoint == "completion"  # the many-shot prompt goes out as plain text
    assert ServerConfig(llm="hosted_vllm/m", api_base="http://gpu:8000/v1", prompt_style="paper").endpoint == "chat"
    assert ServerConfig(llm="hosted_vllm/m", api_base="http://gpu:8000/v1", label_mode="generate").endpoint == "chat"
    assert ServerConfig().endpoint == "chat"  # the embedded provider renders base-model prompts itself
    with pytest.raises(ValueError, match="OpenAI-compatible server"):
        ServerConfig(llm="ollama/llama3", llm_endpoint="completion")
