"""The REST door against browsers: Host allow-list (DNS rebinding), Origin checks on the
WebSocket and state-changing routes, JSON-only bodies, CORS only when configured."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from timebase.core.config import RestConfig
from timebase.rest.guard import Guard, HostPolicy, split_host

from .conftest import Rest, running_rest

CORS = RestConfig(
    rate_limit_enabled=False,
    allowed_hosts=("timebase.internal", "proxy.example:8443"),
    cors_origins=("https://dash.example.com",),
)


def error(body: Any) -> tuple[str, str, dict[str, Any]]:
    assert body["success"] is False
    return body["error"]["code"], body["error"]["message"], body["error"]["details"]


async def call(
    rest: Rest, method: str, path: str, **kw: Any
) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with rest.http.request(method, rest.url(path), **kw) as resp:
        raw = await resp.read()
        body = await resp.json(content_type=None) if raw[:1] == b"{" else raw
        return resp.status, body, resp


# -- Host ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "[::1]:{port}"]
)
async def test_loopback_hosts_are_served(database_url: str, host: str) -> None:
    async with running_rest(database_url) as rest:
        headers = {"Host": host.format(port=rest.server.port)}
        status, body, _ = await call(rest, "GET", "/api/version", headers=headers)
        assert status == 200, body
        assert body["data"]["name"] == "TimeBase"


@pytest.mark.parametrize("path", ["/api/version", "/api/health", "/api/providers", "/metrics"])
async def test_a_dns_rebinding_host_is_refused_on_every_route(database_url: str, path: str) -> None:
    async with running_rest(database_url) as rest:
        host = f"attacker.example:{rest.server.port}"
        status, body, resp = await call(rest, "GET", path, headers={"Host": host})
        assert status == 400
        assert resp.content_type == "application/json"
        code, message, details = error(body)
        assert code == "HOST_NOT_ALLOWED"
        assert message == (
            f"Host '{host}' is not served here (DNS rebinding protection); to serve it, add it "
            "to rest.allowed_hosts (TIMEBASE_REST_ALLOWED_HOSTS)"
        )
        assert details == {"host": host, "key": "rest.allowed_hosts"}


async def test_configured_hosts_are_served_with_their_port(database_url: str) -> None:
    async with running_rest(database_url, config=CORS) as rest:
        for host, expected in [
            ("timebase.internal", 200),
            ("timebase.internal:9999", 200),
            ("proxy.example:8443", 200),
            ("proxy.example:8444", 400),
            ("proxy.example", 400),
            ("internal", 400),
        ]:
            status, body, _ = await call(rest, "GET", "/api/version", headers={"Host": host})
            assert status == expected, (host, body)


async def test_any_host_when_configured_with_a_star(database_url: str) -> None:
    config = RestConfig(rate_limit_enabled=False, allowed_hosts=("*",))
    async with running_rest(database_url, config=config) as rest:
        status, _, _ = await call(rest, "GET", "/api/version", headers={"Host": "x.example"})
        assert status == 200
        # A star serves any Host, but does not make every Origin the server's own.
        status, body, _ = await call(
            rest,
            "DELETE",
            "/api/providers/synthetic",
            headers={"Host": "x.example", "Origin": "http://evil.example"},
        )
        assert (status, error(body)[0]) == (403, "ORIGIN_NOT_ALLOWED")


# -- Origin -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kw"),
    [
        ("POST", "/api/providers", {"json": {"folder": "x"}}),
        ("DELETE", "/api/providers/synthetic", {}),
    ],
)
async def test_a_foreign_origin_is_refused_on_admin_routes(
    database_url: str, method: str, path: str, kw: dict[str, Any]
) -> None:
    async with running_rest(database_url) as rest:
        headers = {"Origin": "http://evil.example"}
        status, body, _ = await call(rest, method, path, headers=headers, **kw)
        assert status == 403
        code, message, details = error(body)
        assert code == "ORIGIN_NOT_ALLOWED"
        assert message == (
            f"Origin 'http://evil.example' may not use {method} {path}: browsers may only change "
            "state from the server's own origin or one listed in rest.cors_origins"
        )
        assert details == {"origin": "http://evil.example", "key": "rest.cors_origins"}
        # `null` (sandboxed frames, file://) is foreign too.
        headers = {"Origin": "null"}
        status, body, _ = await call(rest, method, path, headers=headers, **kw)
        assert (status, error(body)[0]) == (403, "ORIGIN_NOT_ALLOWED")


async def test_same_origin_and_originless_admin_requests_pass_the_checks(
    database_url: str,
) -> None:
    # Without a supervisor the admin routes answer 501: the request got past the checks.
    async with running_rest(database_url) as rest:
        own = f"http://127.0.0.1:{rest.server.port}"
        for headers in ({"Origin": own}, {"Origin": "http://localhost:3000"}, {}):
            status, body, _ = await call(
                rest, "POST", "/api/providers", json={"folder": "x"}, headers=headers
            )
            assert (status, error(body)[0]) == (501, "NOT_IMPLEMENTED"), headers
            status, body, _ = await call(
                rest, "DELETE", "/api/providers/synthetic", headers=headers
            )
            assert (status, error(body)[0]) == (501, "NOT_IMPLEMENTED"), headers


async def test_reads_are_not_origin_checked(database_url: str) -> None:
    # A cross-origin GET cannot be read by the page without CORS; it changes nothing.
    async with running_rest(database_url) as rest:
        status, _, resp = await call(
            rest, "GET", "/api/version", headers={"Origin": "http://evil.example"}
        )
        assert status == 200
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_a_foreign_origin_is_refused_on_the_websocket(database_url: str) -> None:
    async with running_rest(database_url) as rest:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            async with rest.http.ws_connect(
                rest.url("/api/stream"), headers={"Origin": "http://evil.example"}
            ):
                pass
        assert info.value.status == 403
        own = f"http://127.0.0.1:{rest.server.port}"
        async with rest.http.ws_connect(rest.url("/api/stream"), headers={"Origin": own}) as ws:
            message = await ws.receive_json(timeout=5)
            assert message["type"] == "error"  # no real-time hub here: the stream says so


# -- Content-Type -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "shown"),
    [
        ({"Content-Type": "text/plain"}, "'text/plain'"),
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            "'application/x-www-form-urlencoded'",
        ),
        ({"Content-Type": "multipart/form-data; boundary=x"}, "'multipart/form-data; boundary=x'"),
    ],
)
async def test_a_body_that_is_not_json_is_415(
    database_url: str, headers: dict[str, str], shown: str
) -> None:
    async with running_rest(database_url) as rest:
        status, body, _ = await call(
            rest, "POST", "/api/providers", data=b'{"folder": "x"}', headers=headers
        )
        assert status == 415
        code, message, details = error(body)
        assert code == "UNSUPPORTED_MEDIA_TYPE"
        assert message == f"Content-Type: request bodies must be application/json, got {shown}"
        assert details["field"] == "Content-Type"


async def test_json_with_a_charset_is_json(database_url: str) -> None:
    async with running_rest(database_url) as rest:
        status, body, _ = await call(
            rest,
            "POST",
            "/api/providers",
            data=b'{"folder": "x"}',
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        assert (status, error(body)[0]) == (501, "NOT_IMPLEMENTED")


async def test_unknown_routes_stay_404_whatever_the_body(database_url: str) -> None:
    async with running_rest(database_url) as rest:
        status, body, _ = await call(
            rest, "POST", "/api/nothing", data=b"x", headers={"Content-Type": "text/plain"}
        )
        assert (status, error(body)[0]) == (404, "ROUTE_NOT_FOUND")


# -- CORS ---------------------------------------------------------------------------------------


PREFLIGHT = {
    "Origin": "https://dash.example.com",
    "Access-Control-Request-Method": "DELETE",
    "Access-Control-Request-Headers": "authorization",
}


async def test_cors_is_off_by_default(database_url: str) -> None:
    async with running_rest(database_url) as rest:
        status, body, resp = await call(
            rest, "OPTIONS", "/api/providers/synthetic", headers=PREFLIGHT
        )
        assert (status, error(body)[0]) == (405, "METHOD_NOT_ALLOWED")
        assert "Access-Control-Allow-Origin" not in resp.headers
        status, _, resp = await call(
            rest, "GET", "/api/version", headers={"Origin": "https://dash.example.com"}
        )
        assert status == 200
        assert "Access-Control-Allow-Origin" not in resp.headers


async def test_cors_preflight_and_headers_for_configured_origins_only(database_url: str) -> None:
    async with running_rest(database_url, config=CORS) as rest:
        status, body, resp = await call(
            rest, "OPTIONS", "/api/providers/synthetic", headers=PREFLIGHT
        )
        assert status == 204, body
        assert resp.headers["Access-Control-Allow-Origin"] == "https://dash.example.com"
        assert resp.headers["Access-Control-Allow-Methods"] == "DELETE, GET, PATCH"
        assert resp.headers["Access-Control-Allow-Headers"] == (
            "Authorization, Content-Type, Accept, X-Request-ID"
        )
        assert resp.headers["Access-Control-Max-Age"] == "600"
        assert resp.headers["Vary"] == "Origin"

        foreign = {**PREFLIGHT, "Origin": "https://evil.example"}
        status, body, resp = await call(
            rest, "OPTIONS", "/api/providers/synthetic", headers=foreign
        )
        assert status == 403
        code, message, _ = error(body)
        assert code == "ORIGIN_NOT_ALLOWED"
        assert message == (
            "Origin 'https://evil.example' may not call this server cross-origin; to allow it, "
            "add it to rest.cors_origins (TIMEBASE_REST_CORS_ORIGINS)"
        )
        assert "Access-Control-Allow-Origin" not in resp.headers

        # Answers (errors too) to a listed origin are readable by it; its writes pass.
        origin = {"Origin": "https://dash.example.com"}
        status, body, resp = await call(rest, "GET", "/api/version", headers=origin)
        assert status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == "https://dash.example.com"
        assert "X-Request-ID" in resp.headers["Access-Control-Expose-Headers"]
        status, body, resp = await call(rest, "DELETE", "/api/providers/x", headers=origin)
        assert (status, error(body)[0]) == (501, "NOT_IMPLEMENTED")
        assert resp.headers["Access-Control-Allow-Origin"] == "https://dash.example.com"
        status, _, resp = await call(
            rest, "GET", "/api/version", headers={"Origin": "https://evil.example"}
        )
        assert status == 200
        assert "Access-Control-Allow-Origin" not in resp.headers


# -- the policy itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("LocalHost:8080", ("localhost", 8080)),
        ("localhost.", ("localhost", None)),
        ("[::1]:8080", ("[::1]", 8080)),
        ("::1", ("[::1]", None)),
        ("127.0.0.1", ("127.0.0.1", None)),
        ("host:0", None),
        ("host:99999", None),
        ("host:x", None),
        ("[::1", None),
        ("", None),
    ],
)
def test_split_host(value: str, parsed: tuple[str, int | None] | None) -> None:
    assert split_host(value) == parsed


def test_the_bind_address_is_served() -> None:
    policy = HostPolicy.build("192.168.1.20", ())
    assert policy.allows("192.168.1.20:8080")
    assert policy.allows("localhost")
    assert not policy.allows("192.168.1.21:8080")
    guard = Guard.build("0.0.0.0", (), ())
    assert not guard.origin_allowed("http://evil.example", "127.0.0.1:8080")
    assert guard.origin_allowed("http://127.0.0.1:8080", "127.0.0.1:8080")
    assert guard.origin_allowed("http://Localhost:3000/", None)
    assert not guard.origin_allowed("ftp://localhost", None)
