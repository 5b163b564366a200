"""The aiohttp application: thin handlers over :class:`RewardService`.

Every error leaves as JSON ``{"error": ..., "detail": ...}`` with a 4xx/5xx status: bad JSON
and wrong types are 400/422, oversized bodies or batches 413, a missing token 401, a body that
is not ``application/json`` 415, a body too slow to arrive 408, a host name or origin that is
not this server's 403. A request is validated completely before anything is stored, so a
rejected request changes nothing; odd input (JSON nested thousands deep, lone surrogates) is a
4xx like any other, never a 500.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError

from oni_wrappers.messages import normalize_message
from reward_server.api.openapi import ENDPOINTS, MAX_PAID_LISTED, openapi_spec
from reward_server.api.origins import HostNotAllowed, host_guard
from reward_server.config import ServerConfig
from reward_server.judging.judge import LLMJudge
from reward_server.schemas import (
    ErrorOut,
    HealthOut,
    LimitsOut,
    MessagesAccepted,
    MessagesIn,
    RewardsOut,
    ScoreIn,
    ScoreOut,
)
from reward_server.service.reward_service import RewardService
from reward_server.storage.lock import note_server_address
from reward_server.storage.store import record_message_limit

logger = logging.getLogger(__name__)

SERVICE_KEY = web.AppKey("service", RewardService)
Model = TypeVar("Model", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: object = None, close: bool = False) -> None:
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail
        #: close the connection after the response (the rest of the request cannot be trusted)
        self.close = close


def _json_error(status: int, error: str, detail: object = None) -> web.Response:
    # json.dumps with ASCII escapes: a detail may quote the client's input, lone surrogates and all
    body = json.dumps(ErrorOut(error=error, detail=detail).model_dump(), default=str)
    return web.Response(status=status, text=body, content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    service = request.app[SERVICE_KEY]
    try:
        return await handler(request)
    except ApiError as exc:
        response = _json_error(exc.status, exc.error, exc.detail)
        if exc.close:
            response.force_close()
    except HostNotAllowed as exc:
        response = _json_error(403, exc.error, exc.detail)
    except web.HTTPException as exc:  # aiohttp's own: 404, 405, 413 from client_max_size, ...
        if exc.status < 400:
            raise
        response = _json_error(exc.status, exc.reason, exc.text if exc.text != exc.reason else None)
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        response = _json_error(500, "internal server error")
    service.metrics.http_errors.labels(status=str(response.status)).inc()
    return response


def _auth_middleware(token: str | None) -> Callable[..., Awaitable[web.StreamResponse]]:
    expected = f"Bearer {token}".encode("utf-8", "surrogateescape") if token else None

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected is not None and request.path != "/healthz":
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <token>'")
        return await handler(request)

    return auth


async def _parse(request: web.Request, model: type[Model]) -> Model:
    # JSON only: a web page can send text/plain or a form to any address without asking (no CORS
    # preflight), but not application/json; refusing the rest keeps pages from posting messages.
    if request.content_type != "application/json":
        raise ApiError(415, "request body must be JSON (Content-Type: application/json)",
                       f"got {request.content_type or 'no content type'}")
    try:
        async with asyncio.timeout(request.app[SERVICE_KEY].config.body_timeout):
            raw = await request.read()
    except TimeoutError as exc:  # the connection closes after the answer: the rest is not worth reading
        raise ApiError(408, "request body took too long to arrive",
                       f"over {request.app[SERVICE_KEY].config.body_timeout:g} s (--body-timeout)", close=True) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "request body is not valid UTF-8", str(exc)) from exc
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "request body is not valid JSON", str(exc)) from exc
    except RecursionError as exc:
        raise ApiError(400, "request body nests too deeply", "JSON arrays or objects thousands of levels deep") from exc
    try:
        return model.model_validate(payload)
    except RecursionError as exc:
        raise ApiError(400, "request body nests too deeply", None) from exc
    except ValidationError as exc:
        detail = [
            {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()[:20]
        ]
        raise ApiError(422, "request body does not match the schema", detail) from exc


def _check_texts(texts: list[str], config: ServerConfig, what: str) -> list[str]:
    if len(texts) > config.max_batch_messages:
        raise ApiError(
            413, f"too many {what} in one request",
            f"{len(texts)} > {config.max_batch_messages}; split the batch",
        )
    cleaned = []
    for i, text in enumerate(texts):
        if len(text) > config.max_message_chars:
            raise ApiError(
                422, "message too long", f"item {i}: {len(text)} > {config.max_message_chars} characters"
            )
        normalized = normalize_message(text)
        if not normalized or "\x00" in normalized:
            raise ApiError(422, "empty or NUL-containing message", f"item {i}")
        if not _is_unicode(normalized):
            raise ApiError(422, "message is not valid Unicode", f"item {i}: a lone surrogate (\\ud800-\\udfff)")
        cleaned.append(normalized)
    return cleaned


def _is_unicode(text: str) -> bool:
    """False for text holding a lone surrogate: JSON's \\ud800 escapes make one, and it cannot be
    stored (SQLite takes UTF-8) or sent back."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def post_messages(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    body = await _parse(request, MessagesIn)
    texts = _check_texts([m.text for m in body.messages], service.config, "messages")
    counts: dict[str, int] = {}
    for text, message in zip(texts, body.messages, strict=True):
        counts[text] = counts.get(text, 0) + message.count
    accepted, new, queued = await service.ingest(counts)
    return web.json_response(MessagesAccepted(accepted=accepted, new=new, queued=queued).model_dump())


async def get_rewards(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    raw = request.query.get("since", "0")
    try:
        since = int(raw)
    except ValueError as exc:
        raise ApiError(400, "'since' must be an integer table version", raw[:100]) from exc
    rows = service.rewards_since(since)
    if rows is not None:
        out = RewardsOut(table_id=service.table_id, version=service.table.version, full=False, rewards=rows)
        return web.Response(text=out.model_dump_json(), content_type="application/json")
    # the whole table: a prepared gzip body, sent as it is to clients that take gzip (all do)
    snapshot = await service.full_table()
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        return web.Response(body=snapshot.gzip, content_type="application/json", headers={"Content-Encoding": "gzip"})
    return web.Response(body=await asyncio.to_thread(snapshot.json), content_type="application/json")


async def post_score(request: web.Request) -> web.Response:
    service = request.app[SERVICE_KEY]
    body = await _parse(request, ScoreIn)
    texts = _check_texts(body.messages, service.config, "messages")
    out = ScoreOut(
        version=service.table.version,
        threshold=service.labels.calibrator.threshold,
        scores=await service.score(texts),
    )
    return web.Response(text=out.model_dump_json(), content_type="application/json")


async def get_paid(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "50")
    try:
        limit = int(raw)
    except ValueError as exc:
        raise ApiError(400, "'limit' must be an integer", raw[:100]) from exc
    if not 1 <= limit <= MAX_PAID_LISTED:
        raise ApiError(400, f"'limit' must be between 1 and {MAX_PAID_LISTED}", raw[:100])
    out = await request.app[SERVICE_KEY].paid(limit)
    return web.Response(text=out.model_dump_json(), content_type="application/json")


async def get_limits(request: web.Request) -> web.Response:
    config = request.app[SERVICE_KEY].config
    out = LimitsOut(
        max_batch_messages=config.max_batch_messages,
        max_message_chars=config.max_message_chars,
        max_body_bytes=config.max_body_bytes,
    )
    return web.json_response(out.model_dump())


async def get_stats(request: web.Request) -> web.Response:
    return web.Response(
        text=request.app[SERVICE_KEY].stats().model_dump_json(), content_type="application/json"
    )


async def get_health(request: web.Request) -> web.Response:
    """200 ``ok``, or 503 ``degraded`` with the reasons (no worker alive, LLM down for long)."""
    reasons = request.app[SERVICE_KEY].health()
    out = HealthOut(status="degraded" if reasons else "ok", reasons=reasons)
    return web.json_response(out.model_dump(), status=503 if reasons else 200)


async def get_metrics(request: web.Request) -> web.Response:
    registry = request.app[SERVICE_KEY].metrics.registry
    response = web.Response(body=generate_latest(registry))
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_spec())


def runner_options(config: ServerConfig) -> dict[str, object]:
    """``web.AppRunner`` / ``web.run_app`` options every server gets.

    ``keepalive_timeout`` is the header deadline: aiohttp (3.14.5 on) arms it when a connection
    opens and again after each response, and closes the connection if no complete request has
    arrived by then, so unfinished headers (slowloris) or idle sockets cannot pile up until the
    server runs out of file descriptors. Bodies have their own deadline (``--body-timeout``);
    after its 408 (or any answer sent before the body was read) the connection is closed within
    ``lingering_time``, not aiohttp's 10 s, so a trickled body cannot hold it either.
    """
    return {"keepalive_timeout": config.header_timeout, "lingering_time": min(2.0, config.header_timeout)}


def create_app(config: ServerConfig, judge: LLMJudge | None = None) -> web.Application:
    """Build the app; the service starts (store opened, queue restored) with the app."""
    service = RewardService(config, judge)
    token = config.token.get_secret_value() if config.token else None
    # Host names guard a server without a token from web pages (DNS rebinding); with a token, a page
    # cannot send it (no CORS is ever granted), so any name a client uses for the host is fine
    allowed_hosts = ["*"] if token else config.allowed_host
    app = web.Application(
        client_max_size=config.max_body_bytes,
        middlewares=[error_middleware, host_guard(config.host, allowed_hosts), _auth_middleware(token)],
    )
    app[SERVICE_KEY] = service

    async def lifecycle(app: web.Application):  # type: ignore[no-untyped-def]
        await service.start()
        # imports into this store check texts against this server's limit, not the default one
        await asyncio.to_thread(record_message_limit, config.store, config.max_message_chars)
        if config.port:  # a second server refused on this store names this one (runner: the bound port)
            note_server_address(config.store, config.host, config.port)
        yield
        await service.stop()

    app.cleanup_ctx.append(lifecycle)
    handlers: dict[str, Handler] = {
        "/v1/messages": post_messages,
        "/v1/rewards": get_rewards,
        "/v1/score": post_score,
        "/v1/limits": get_limits,
        "/v1/stats": get_stats,
        "/v1/paid": get_paid,
        "/healthz": get_health,
        "/metrics": get_metrics,
        "/openapi.json": get_openapi,
    }
    for endpoint in ENDPOINTS:  # the routes are exactly what the OpenAPI description lists
        app.router.add_route(endpoint.method.upper(), endpoint.path, handlers[endpoint.path])
    return app
