"""Bad input at the HTTP boundary: clear 4xx JSON errors, and nothing stored."""

import httpx
import pytest

from reward_server.runner import BackgroundServer
from tests.conftest import fake_config


def post(server, path, **kwargs):
    return httpx.post(server.url + path, timeout=30, **kwargs)


def stored_messages(server) -> int:
    return httpx.get(server.url + "/v1/stats").json()["messages"]


def assert_json_error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'{"messages": "You kill the newt!"}',
        b'{"messages": [{"text": 5}]}',
        b'{"messages": [{"text": "a", "count": -1}]}',
        b'{"messages": [{"text": "a", "count": "3"}]}',
        b'{"messages": [{"txt": "a"}]}',
        b'{"messages": [{"text": ""}]}',
        b'{"messages": [{"text": "   "}]}',
        b"[]",
        b"",
    ],
)
def test_malformed_message_posts_are_rejected(fake_server, body):
    response = post(fake_server, "/v1/messages", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422)
    assert_json_error(response, response.status_code)
    assert stored_messages(fake_server) == 0


def test_non_utf8_body_is_400(fake_server):
    response = post(fake_server, "/v1/messages", content=b'{"messages": [{"text": "\xff\xfe"}]}')
    assert_json_error(response, 400)
    assert "UTF-8" in response.json()["error"]


def test_ten_megabyte_body_is_413(fake_server):
    big = b'{"messages": [{"text": "' + b"a" * (10 * 1024 * 1024) + b'"}]}'
    response = post(fake_server, "/v1/messages", content=big)
    assert_json_error(response, 413)
    assert stored_messages(fake_server) == 0


def test_oversized_batch_is_413_and_stores_nothing(fake_server):
    n = fake_server.config.max_batch_messages + 1
    response = post(fake_server, "/v1/messages", json={"messages": [{"text": f"m{i}"} for i in range(n)]})
    assert_json_error(response, 413)
    assert stored_messages(fake_server) == 0


def test_overlong_message_is_422(fake_server):
    response = post(fake_server, "/v1/messages", json={"messages": [{"text": "x" * 5000}]})
    assert_json_error(response, 422)


def test_unicode_and_control_characters_are_accepted_as_data(fake_server):
    texts = ["Ÿou kïll the ñewt! 🐉", "bell\x07 and tab\t inside"]
    response = post(fake_server, "/v1/messages", json={"messages": [{"text": t} for t in texts]})
    assert response.status_code == 200 and response.json()["new"] == 2
    rewards = httpx.get(fake_server.url + "/v1/rewards", params={"since": 0}).json()["rewards"]
    assert set(texts) <= set(rewards)


def test_bad_since_is_400_and_unknown_route_is_json_404(fake_server):
    assert_json_error(httpx.get(fake_server.url + "/v1/rewards", params={"since": "abc"}), 400)
    assert_json_error(httpx.get(fake_server.url + "/v1/nothing"), 404)


def test_score_rejects_wrong_types(fake_server):
    assert_json_error(post(fake_server, "/v1/score", json={"messages": [1, 2]}), 422)


def test_metrics_and_health(fake_server):
    assert httpx.get(fake_server.url + "/healthz").json() == {"status": "ok", "reasons": []}
    post(fake_server, "/v1/messages", content=b"{bad")
    metrics = httpx.get(fake_server.url + "/metrics").text
    assert "oni_table_version" in metrics
    assert 'oni_http_errors_total{status="400"} 1.0' in metrics


def test_token_required_everywhere_but_healthz(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "oni.sqlite", token="s3cret")
    with BackgroundServer(config) as server:
        assert httpx.get(server.url + "/healthz").status_code == 200
        assert_json_error(httpx.get(server.url + "/v1/stats"), 401)
        assert_json_error(httpx.get(server.url + "/v1/stats", headers={"Authorization": "Bearer nope"}), 401)
        ok = httpx.get(server.url + "/v1/stats", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200


def test_store_file_is_private(fake_server):
    assert (fake_server.config.store.stat().st_mode & 0o777) == 0o600
