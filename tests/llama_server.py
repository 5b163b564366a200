"""llama.cpp's OpenAI-compatible server (``python -m llama_cpp.server``) on loopback, serving the
embedded Gemma GGUF: the real remote path that vLLM users take, with a model that runs here."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

import httpx

from reward_server.judging.embedded_llm import DEFAULT_EMBEDDED_MODEL, embedded_model
from tests.helpers import free_port

#: The name the server answers to; the reward server reaches it as ``hosted_vllm/<this>``.
SERVED_NAME = "gemma-3-270m"


class LlamaCppServer:
    """One ``llama_cpp.server`` process. ``logits_all`` is what its logprobs need."""

    def __init__(self, threads: int = 2) -> None:
        self.port = free_port()
        model = embedded_model(DEFAULT_EMBEDDED_MODEL).locate()
        self.cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", SERVED_NAME,
                    "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048", "--logits_all", "true",
                    "--n_threads", str(threads)]
        self.proc: subprocess.Popen | None = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120.0) -> LlamaCppServer:
        # it logs every request: a pipe would fill and block it; open for the server's life, closed in stop()
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.api_base + "/models", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"llama.cpp server exited: {self._log.read()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("llama.cpp server did not start")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
