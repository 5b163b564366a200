"""Running a reward server: in the foreground (CLI) or in a background thread (examples, tests).

The background form is a real server on a real socket, just hosted by a thread of the calling
process; it lets a single script (the quickstart, a test) run env, wrapper and server together.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Self

from aiohttp import web

from reward_server.api.app import SERVICE_KEY, create_app, runner_options
from reward_server.config import ServerConfig
from reward_server.judging.judge import LLMJudge
from reward_server.service.reward_service import RewardService
from reward_server.storage.lock import note_server_address


class BackgroundServer:
    """A reward server in a daemon thread. ``with BackgroundServer(config) as server: server.url``."""

    def __init__(self, config: ServerConfig, judge: LLMJudge | None = None) -> None:
        self.config = config
        self._judge = judge
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="oni-reward-server", daemon=True)
        self.port = config.port
        self.service: RewardService | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def start(self, timeout: float = 120.0) -> BackgroundServer:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("reward server did not start in time")
        if self._error is not None:
            raise RuntimeError("reward server failed to start") from self._error
        return self

    def call(self, coro_fn, timeout: float = 60.0):  # type: ignore[no-untyped-def]
        """Run ``coro_fn(service)`` on the server's loop and return its result (for tests)."""
        assert self._loop is not None and self.service is not None
        return asyncio.run_coroutine_threadsafe(coro_fn(self.service), self._loop).result(timeout)

    def stop(self) -> None:
        if self._loop is not None and self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(60)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=60)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        self._loop = loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            app = create_app(self.config, self._judge)
            self.service = app[SERVICE_KEY]
            self._runner = web.AppRunner(app, handle_signals=False, **runner_options(self.config))  # type: ignore[arg-type]
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.config.host, self.config.port)
            loop.run_until_complete(site.start())
            self.port = self._runner.addresses[0][1]
            note_server_address(self.config.store, self.config.host, self.port)
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.close()
