"""The REST door's request checks against browsers turned against it (see docs/rest.md,
"Browsers: Host, Origin, Content-Type and CORS").

- `check_host`: the `Host` header must name the bind address, a loopback name (`localhost`,
  `127.0.0.1`, `[::1]`) or an entry of `rest.allowed_hosts`, on any port unless the entry names
  one. A web page whose DNS name re-resolves to 127.0.0.1 (DNS rebinding) sends its own name:
  400 HOST_NOT_ALLOWED. A request without `Host` (not a browser) passes.
- `cors`: off unless `rest.cors_origins` lists origins; then it answers their preflights (and
  refuses other origins' with 403), and `add_cors_headers` (an `on_response_prepare` signal)
  lets those origins read every answer, errors included.
- `check_origin`: the WebSocket and every state-changing method (POST, PUT, PATCH, DELETE) refuse
  a browser's foreign `Origin` with 403 ORIGIN_NOT_ALLOWED. Same origin is an `Origin` whose
  host is the request's `Host` or an allowed host; `rest.cors_origins` are allowed too. Requests
  without `Origin` (curl, the Python client) pass.
- `check_json_body`: a request body must be `application/json` (415 UNSUPPORTED_MEDIA_TYPE),
  so no HTML form or `text/plain` "simple request" reaches a route.

`MIDDLEWARES` is their order, right after the envelope: the Host check first, then CORS (a
preflight is answered before authentication: browsers send no credentials with it), then the
Origin and body checks. Authentication, when on, comes after them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import hdrs, web

from timebase.sdk.errors import HostNotAllowed, OriginNotAllowed, UnsupportedMediaType

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Always served: the loopback names (a DNS-rebinding page never sends these).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
#: Methods that change state: Origin-checked.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Methods whose body must be JSON.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = "application/json"
#: CORS: the request headers a browser may send, and the response headers it may read.
CORS_ALLOW_HEADERS = "Authorization, Content-Type, Accept, X-Request-ID"
CORS_EXPOSE_HEADERS = (
    "X-Request-ID, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, "
    "X-TimeBase-Warnings, Location"
)
CORS_MAX_AGE = "600"
ALLOWED_HOSTS_KEY = "rest.allowed_hosts"
CORS_ORIGINS_KEY = "rest.cors_origins"


def split_host(value: str) -> tuple[str, int | None] | None:
    """`(name, port)` of a Host header value (name lower-cased, IPv6 in brackets, a trailing
    dot dropped); None when it is not a host."""
    text = value.strip().lower()
    if not text:
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        name, rest = text[: end + 1], text[end + 1 :]
    elif text.count(":") > 1:  # a bare IPv6 address (a bind address such as ::1)
        name, rest = f"[{text}]", ""
    else:
        name, _, port_text = text.partition(":")
        rest = f":{port_text}" if port_text or text.endswith(":") else ""
    name = name.rstrip(".")
    if not name:
        return None
    if not rest:
        return name, None
    port_text = rest[1:]
    if not rest.startswith(":") or not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        return None
    return name, int(port_text)


@dataclass(frozen=True)
class HostPolicy:
    """Which Host header values the door serves."""

    #: Names served on any port.
    names: frozenset[str]
    #: (name, port) served on that port only.
    exact: frozenset[tuple[str, int]]
    #: `*` was configured: any host.
    any_host: bool = False

    @classmethod
    def build(cls, bind_host: str, configured: Iterable[str]) -> HostPolicy:
        names: set[str] = set()
        exact: set[tuple[str, int]] = set()
        any_host = False
        for entry in (bind_host, *LOOPBACK_HOSTS, *configured):
            if entry == "*":
                any_host = True
                continue
            parsed = split_host(entry)
            if parsed is None:
                continue
            name, port = parsed
            if port is None:
                names.add(name)
            else:
                exact.add((name, port))
        return cls(frozenset(names), frozenset(exact), any_host)

    def lists(self, host: str) -> bool:
        """True when `host` (a Host value or an Origin's host[:port]) is listed by name."""
        parsed = split_host(host)
        if parsed is None:
            return False
        name, port = parsed
        return name in self.names or (port is not None and (name, port) in self.exact)

    def allows(self, host: str) -> bool:
        return self.any_host or self.lists(host)


@dataclass(frozen=True)
class Guard:
    """The checks' configuration, built once per application."""

    hosts: HostPolicy
    cors_origins: frozenset[str]

    @classmethod
    def build(
        cls, bind_host: str, allowed_hosts: Iterable[str], cors_origins: Iterable[str]
    ) -> Guard:
        return cls(HostPolicy.build(bind_host, allowed_hosts), frozenset(cors_origins))

    def origin_allowed(self, origin: str, host_header: str | None) -> bool:
        """Same origin (the request's own Host, or a listed host), or a CORS origin."""
        value = origin.strip().lower().rstrip("/")
        if value in self.cors_origins:
            return True
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            return False  # "null" (sandboxed frames, file://) and anything odd
        if host_header is not None and split_host(parts.netloc) == split_host(host_header):
            return True
        return self.hosts.lists(parts.netloc)


GUARD = web.AppKey("timebase_rest_guard", Guard)


def _matched(request: web.Request) -> bool:
    """False for requests no route answers (they get 404/405 from the router)."""
    return getattr(request.match_info, "http_exception", None) is None


def _is_websocket(request: web.Request) -> bool:
    return request.headers.get(hdrs.UPGRADE, "").strip().lower() == "websocket"


@web.middleware
async def check_host(request: web.Request, handler: Handler) -> Any:
    host = request.headers.get(hdrs.HOST)
    if host is not None and not request.app[GUARD].hosts.allows(host):
        raise HostNotAllowed(
            f"Host {host!r} is not served here (DNS rebinding protection); to serve it, add it "
            f"to {ALLOWED_HOSTS_KEY} (TIMEBASE_REST_ALLOWED_HOSTS)",
            host=host,
            key=ALLOWED_HOSTS_KEY,
        )
    return await handler(request)


@web.middleware
async def cors(request: web.Request, handler: Handler) -> Any:
    origin = request.headers.get(hdrs.ORIGIN)
    guard = request.app[GUARD]
    preflight = (
        request.method == hdrs.METH_OPTIONS
        and origin is not None
        and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
    )
    if not (preflight and guard.cors_origins):
        return await handler(request)
    assert origin is not None
    error = getattr(request.match_info, "http_exception", None)
    if not isinstance(error, web.HTTPMethodNotAllowed):
        return await handler(request)  # no such route: 404 as usual
    if origin.strip().lower().rstrip("/") not in guard.cors_origins:
        raise OriginNotAllowed(
            f"Origin {origin!r} may not call this server cross-origin; to allow it, add it to "
            f"{CORS_ORIGINS_KEY} (TIMEBASE_REST_CORS_ORIGINS)",
            origin=origin,
            key=CORS_ORIGINS_KEY,
        )
    methods = sorted(m for m in error.allowed_methods if m != hdrs.METH_HEAD)
    return web.Response(
        status=204,
        headers={
            hdrs.ACCESS_CONTROL_ALLOW_METHODS: ", ".join(methods),
            hdrs.ACCESS_CONTROL_ALLOW_HEADERS: CORS_ALLOW_HEADERS,
            hdrs.ACCESS_CONTROL_MAX_AGE: CORS_MAX_AGE,
        },
    )


async def add_cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: let a configured CORS origin read this answer (errors too)."""
    origin = request.headers.get(hdrs.ORIGIN)
    guard = request.app[GUARD]
    if not guard.cors_origins:
        return
    response.headers.add(hdrs.VARY, hdrs.ORIGIN)
    if origin is not None and origin.strip().lower().rstrip("/") in guard.cors_origins:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = CORS_EXPOSE_HEADERS


@web.middleware
async def check_origin(request: web.Request, handler: Handler) -> Any:
    origin = request.headers.get(hdrs.ORIGIN)
    checked = request.method in UNSAFE_METHODS or _is_websocket(request)
    if (
        origin is not None
        and checked
        and _matched(request)
        and not request.app[GUARD].origin_allowed(origin, request.headers.get(hdrs.HOST))
    ):
        what = "the WebSocket" if _is_websocket(request) else f"{request.method} {request.path}"
        raise OriginNotAllowed(
            f"Origin {origin!r} may not use {what}: browsers may only change state from the "
            f"server's own origin or one listed in {CORS_ORIGINS_KEY}",
            origin=origin,
            key=CORS_ORIGINS_KEY,
        )
    return await handler(request)


def require_json(request: web.Request) -> None:
    """UnsupportedMediaType unless the request's body (if any) is declared `application/json`."""
    declared = request.headers.get(hdrs.CONTENT_TYPE)
    if declared is None and not request.body_exists:
        return
    if request.content_type != JSON or declared is None:
        raise UnsupportedMediaType(
            f"Content-Type: request bodies must be {JSON}, got "
            + (repr(declared) if declared is not None else "none"),
            field="Content-Type",
            content_type=declared,
        )


@web.middleware
async def check_json_body(request: web.Request, handler: Handler) -> Any:
    if request.method in BODY_METHODS and _matched(request):
        require_json(request)
    return await handler(request)


#: The checks, in their order (after the envelope, before authentication and the rate limit).
MIDDLEWARES = (check_host, cors, check_origin, check_json_body)


def install(app: web.Application, guard: Guard) -> None:
    """Give `app` its checks' configuration and the CORS response headers."""
    app[GUARD] = guard
    app.on_response_prepare.append(add_cors_headers)
