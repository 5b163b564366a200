"""Bad input at the HTTP boundary: clear 4xx JSON errors, and nothing stored."""

import httpx
import pytest

from reward_server.runner import BackgroundServer
from tests.conftest import fake_config
from tests.helpers import stats

JSON = {"Content-Type": "application/json"}


def post(server, path, **kwargs):
    if "content" in kwargs:  # raw bytes, sent as JSON unless the test says otherwise
        kwargs["headers"] = {**JSON, **kwargs.get("headers", {})}
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


@pytest.mark.parametrize("limit", ["abc", "0", "1001", "-5", "1e3"])
def test_a_bad_paid_limit_is_400(fake_server, limit):
    assert_json_error(httpx.get(fake_server.url + "/v1/paid", params={"limit": limit}), 400)


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


# ------------------------------------------------------------------ web pages and odd input
def test_a_cross_site_text_plain_post_is_refused_and_stores_nothing(fake_server):
    # what a web page can send anywhere without a CORS preflight: text/plain (or a form)
    body = b'{"messages": [{"text": "You kill the newt!"}]}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = httpx.post(fake_server.url + "/v1/messages", content=body, timeout=30,
                              headers={"Content-Type": content_type})
        assert_json_error(response, 415)
    response = httpx.post(fake_server.url + "/v1/messages", content=body, timeout=30,
                          headers={"Content-Type": "text/plain", "Origin": "http://evil.example",
                                   "Host": "evil.example"})
    assert response.status_code in (403, 415)
    assert stored_messages(fake_server) == 0


def test_a_foreign_origin_is_refused(fake_server):
    response = post(fake_server, "/v1/messages", json={"messages": [{"text": "You kill the newt!"}]},
                    headers={"Origin": "http://evil.example"})
    assert_json_error(response, 403)
    assert stored_messages(fake_server) == 0


def test_dns_rebinding_host_names_are_refused_unless_allowed(fake_llm, tmp_path):
    def get(server, host):  # type: ignore[no-untyped-def]
        return httpx.get(server.url + "/v1/rewards", headers={"Host": host}, timeout=30)

    with BackgroundServer(fake_config(fake_llm, tmp_path / "a.sqlite")) as server:
        refused = get(server, f"evil.example:{server.port}")
        assert_json_error(refused, 403)
        assert "--allowed-host" in refused.json()["detail"]
        for host in ("localhost", f"localhost:{server.port}", f"127.0.0.1:{server.port}", "[::1]:80", "10.1.2.3"):
            assert get(server, host).status_code == 200, host
    config = fake_config(fake_llm, tmp_path / "b.sqlite", allowed_host=["gpu-host"])
    with BackgroundServer(config) as server:
        assert get(server, f"gpu-host:{server.port}").status_code == 200
        assert get(server, "GPU-HOST.").status_code == 200
        assert_json_error(get(server, "evil.example"), 403)
    # with a token a web page cannot get in anyway: a shared server answers to any name its clients use
    with BackgroundServer(fake_config(fake_llm, tmp_path / "c.sqlite", token="secret")) as server:
        response = httpx.get(server.url + "/v1/rewards", timeout=30,
                             headers={"Host": f"gpu-host:{server.port}", "Authorization": "Bearer secret"})
        assert response.status_code == 200
        assert get(server, f"gpu-host:{server.port}").status_code == 401  # but not without the token


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/score"])
@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"messages": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b'{"messages": [{"text": ' + b'{"a": ' * 20_000 + b"1" + b"}" * 20_000 + b"}]}",
], ids=["array", "in-messages", "objects"])
def test_deeply_nested_json_is_a_400_not_a_500(fake_server, path, body):
    response = post(fake_server, path, content=body)
    assert response.status_code in (400, 422), response.text
    assert_json_error(response, response.status_code)
    assert stored_messages(fake_server) == 0


@pytest.mark.parametrize("path, body", [
    ("/v1/score", b'{"messages": ["\\ud800"]}'),
    ("/v1/score", b'{"messages": ["You kill the newt! \\udfff"]}'),
    ("/v1/messages", b'{"messages": [{"text": "\\ud800 gold"}]}'),
    ("/v1/messages", b'{"messages": [{"text": "a", "\\ud800": 1}]}'),
    ("/v1/score", b'{"\\udc00": []}'),
])
def test_lone_surrogates_are_a_422_not_a_500(fake_server, path, body):
    response = post(fake_server, path, content=body)
    assert_json_error(response, 422)
    assert stored_messages(fake_server) == 0


def _raw_connection(server):  # type: ignore[no-untyped-def]
    import socket

    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _closed_by_server(sock) -> bool:  # type: ignore[no-untyped-def]
    try:
        data = sock.recv(65536)
        while data:  # a response (e.g. a 408) may come first; then the server must close
            data = sock.recv(65536)
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_unfinished_headers_do_not_hold_sockets(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "oni.sqlite", header_timeout=1.0)
    with BackgroundServer(config) as server:
        slow = [_raw_connection(server) for _ in range(100)]
        for sock in slow:
            sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
        import time

        time.sleep(3.0)
        for sock in slow:
            sock.settimeout(5.0)
        assert all(_closed_by_server(sock) for sock in slow)
        for sock in slow:
            sock.close()
        assert stats(server)["messages"] == 0  # and the server still answers


def test_a_body_that_does_not_arrive_is_a_408(fake_llm, tmp_path):
    config = fake_config(fake_llm, tmp_path / "oni.sqlite", body_timeout=1.0)
    with BackgroundServer(config) as server:
        sock = _raw_connection(server)
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"messages\": [")
        sock.settimeout(10.0)
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 408"), head[:200]
        assert _closed_by_server(sock)
        sock.close()
        assert stats(server)["messages"] == 0
