"""Fuzzing every endpoint from the published OpenAPI description (hypothesis).

Two properties: a request the schema allows is either stored exactly (unicode, control
characters and all) or refused with a clear 4xx for a documented reason; anything else — any
JSON, any bytes, any query string — gets a JSON 4xx, never a 500 and never a stored row.
"""

import json

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from oni_wrappers.messages import normalize_message
from reward_server.api.app import create_app
from reward_server.api.openapi import ENDPOINTS
from reward_server.runner import BackgroundServer
from tests.conftest import fake_config
from tests.schema_strategies import from_schema

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_CHARS = 1024
JSON = {"Content-Type": "application/json"}

#: bodies that once made a 500 (or worse): always tried, beside the random ones
ODD_BODIES = [
    b"[" * 100_000 + b"]" * 100_000,  # RecursionError in the JSON parser
    b'{"messages": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"messages": [{"text": ' + b'{"a": ' * 20_000 + b"1" + b"}" * 20_000 + b"}]}",
    b'{"messages": ["\\ud800"]}',  # a lone surrogate: unencodable in the answer
    b'{"messages": [{"text": "\\udfff gold"}]}',
    b'{"\\ud800": [1]}',
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def request_bodies(spec, name):
    """Bodies drawn from the request schema exactly as the server publishes it."""
    return from_schema({"$ref": f"#/components/schemas/{name}"}, spec["components"])


def is_storable(text):
    cleaned = normalize_message(text)
    return bool(cleaned) and "\x00" not in cleaned and len(text) <= MAX_CHARS


def assert_json_error(response):
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]


def test_openapi_lists_exactly_the_served_routes(fake_llm, tmp_path):
    app = create_app(fake_config(fake_llm, tmp_path / "s.sqlite"))
    served = {(r.method.lower(), r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"}
    with BackgroundServer(fake_config(fake_llm, tmp_path / "t.sqlite")) as server:
        spec = httpx.get(server.url + "/openapi.json").json()
    described = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert served == described == {(e.method, e.path) for e in ENDPOINTS}
    for ref in set(_walk_refs(spec)):  # every reference resolves
        name = ref.removeprefix("#/components/schemas/")
        assert name in spec["components"]["schemas"], ref


def _walk_refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _walk_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk_refs(item)


def test_schema_valid_message_posts_are_stored_exactly_or_refused_for_a_reason(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "s.sqlite", max_message_chars=MAX_CHARS)
    with BackgroundServer(config) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        spec = http.get("/openapi.json").json()
        accepted: set[str] = set()

        @FUZZ
        @given(request_bodies(spec, "MessagesIn"))
        def check(body):
            response = http.post("/v1/messages", json=body)
            texts = [m["text"] for m in body["messages"]]
            if all(is_storable(t) for t in texts):
                assert response.status_code == 200, response.text
                accepted.update(normalize_message(t) for t in texts)
            else:
                assert_json_error(response)

        check()
        table = http.get("/v1/rewards", params={"since": 0}).json()["rewards"]
        assert set(table) == accepted  # nothing refused was stored, nothing accepted was altered
        assert http.get("/v1/stats").json()["messages"] == len(accepted)


def test_any_other_input_gets_a_json_4xx_and_stores_nothing(fake_llm, tmp_path):
    with BackgroundServer(fake_config(fake_llm, tmp_path / "s.sqlite")) as server, \
            httpx.Client(base_url=server.url, timeout=30) as http:
        posts = [e.path for e in ENDPOINTS if e.method == "post"]

        @FUZZ
        @given(st.sampled_from(posts), json_values)
        def check_json(path, value):
            response = http.post(path, content=json.dumps(value), headers=JSON)
            if response.status_code != 200:  # a few random values are valid (e.g. no messages)
                assert_json_error(response)

        @FUZZ
        @given(st.sampled_from(posts), st.binary(max_size=300))
        def check_bytes(path, raw):
            response = http.post(path, content=raw, headers=JSON)
            if response.status_code != 200:
                assert_json_error(response)

        def check_odd_bodies():
            for path in posts:
                for raw in ODD_BODIES:
                    assert_json_error(http.post(path, content=raw, headers=JSON))

        @FUZZ
        @given(st.sampled_from(posts), st.sampled_from(["text/plain", "application/x-www-form-urlencoded",
                                                        "multipart/form-data", "", "application/jsonx"]))
        @example("/v1/messages", "text/plain")
        def check_content_types(path, content_type):  # what a web page can post cross-site
            body = json.dumps({"messages": [{"text": "You kill the newt!"}]})
            assert_json_error(http.post(path, content=body, headers={"Content-Type": content_type}))

        @FUZZ
        @given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz.-", min_size=1, max_size=30))
        @example("evil.example")
        def check_foreign_hosts(name):  # DNS rebinding: a name that is not this server's
            if name.strip(".") in ("localhost",) or name.endswith((".localhost", "localhost.")):
                return
            response = http.get("/v1/rewards", headers={"Host": name})
            assert_json_error(response)
            response = http.post("/v1/messages", json={"messages": [{"text": "You kill the newt!"}]},
                                 headers={"Origin": f"http://{name}"})
            assert_json_error(response)

        @FUZZ
        @given(st.text(max_size=30))
        def check_since(since):
            response = http.get("/v1/rewards", params={"since": since})
            if response.status_code != 200:
                assert_json_error(response)

        check_json()
        check_bytes()
        check_odd_bodies()
        check_content_types()
        check_foreign_hosts()
        check_since()
        stats = http.get("/v1/stats").json()
        table = http.get("/v1/rewards", params={"since": 0}).json()["rewards"]
        assert stats["messages"] == len(table)
        assert all(is_storable(t) for t in table)
