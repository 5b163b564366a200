"""The OpenAPI 3.1 description of the HTTP API, built from the pydantic models at the boundary.

Served at ``GET /openapi.json`` so users can generate clients and so the tests can fuzz every
endpoint from the same description the server validates against (no hand-kept copy to drift).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from reward_server import __version__
from reward_server.schemas import (
    ErrorOut,
    HealthOut,
    LimitsOut,
    MessagesAccepted,
    MessagesIn,
    PaidOut,
    RewardsOut,
    ScoreIn,
    ScoreOut,
    StatsOut,
)

REF = "#/components/schemas/{model}"
#: the most messages ``GET /v1/paid`` lists in one answer
MAX_PAID_LISTED = 1000


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    query: tuple[tuple[str, str], ...] = ()  # (name, description) of integer query parameters
    content_type: str = "application/json"


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("post", "/v1/messages", "Report game messages (text and occurrence count) from a wrapper",
             MessagesIn, MessagesAccepted),
    Endpoint("get", "/v1/rewards", "The reward table, or the rows changed since a table version",
             None, RewardsOut, (("since", "table version the client holds; 0 for the whole table"),)),
    Endpoint("post", "/v1/score", "Score arbitrary messages with the current reward model", ScoreIn, ScoreOut),
    Endpoint("get", "/v1/limits", "Batch, message and body size limits (clients split to fit)", None, LimitsOut),
    Endpoint("get", "/v1/stats", "Queue, LLM, circuit-breaker and table figures", None, StatsOut),
    Endpoint("get", "/v1/paid", "The messages the table pays, the most often reported first", None, PaidOut,
             (("limit", f"how many to list (1 to {MAX_PAID_LISTED}; default 50)"),)),
    Endpoint("get", "/healthz", "Health (no token needed): 200 ok, or 503 degraded with reasons", None, HealthOut),
    Endpoint("get", "/metrics", "Prometheus metrics", content_type="text/plain"),
    Endpoint("get", "/openapi.json", "This description"),
)


def _error_responses() -> dict[str, Any]:
    body = {"content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorOut")}}}}
    return {
        code: {"description": text, **body}
        for code, text in (
            ("400", "body is not UTF-8 JSON, or a bad query parameter"),
            ("401", "missing or wrong bearer token"),
            ("413", "body or batch too large"),
            ("422", "body does not match the schema, or a message is empty/too long"),
        )
    }


def openapi_spec() -> dict[str, Any]:
    models = {ErrorOut} | {m for ep in ENDPOINTS for m in (ep.request, ep.response) if m is not None}
    schemas: dict[str, Any] = {}
    for model in sorted(models, key=lambda m: m.__name__):
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    paths: dict[str, Any] = {}
    for ep in ENDPOINTS:
        if ep.response is not None:
            body_schema: dict[str, Any] = {"$ref": REF.format(model=ep.response.__name__)}
        else:
            body_schema = {"type": "string"} if ep.content_type == "text/plain" else {}
        ok = {"description": "OK", "content": {ep.content_type: {"schema": body_schema}}}
        operation: dict[str, Any] = {"summary": ep.summary, "responses": {"200": ok, **_error_responses()}}
        if ep.request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": REF.format(model=ep.request.__name__)}}},
            }
        if ep.query:
            operation["parameters"] = [
                {"name": name, "in": "query", "required": False, "description": doc,
                 "schema": {"type": "integer", "default": 0}}
                for name, doc in ep.query
            ]
        if ep.path != "/healthz":
            operation["security"] = [{"bearer": []}]
        paths.setdefault(ep.path, {})[ep.method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "oni reward server", "version": __version__,
                 "description": "Online intrinsic rewards from LLM feedback (ONI) for NetHack agents."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "only when the server runs with --token"}},
        },
    }
