"""Who is calling a REST route: the authentication middleware and `caller_of`.

Every route needs `Authorization: Bearer <key>` (checked by the one `Authenticator`) except:

- `/api/health` (and `/api/health/live`, `/api/health/ready`): open, but an unauthenticated
  caller learns only up or down (`health_details_allowed`);
- `/api/version`, `/openapi.json`, `/docs`: open;
- `/metrics`: open to loopback clients, the `read` scope otherwise;
- `/api/stream` (WebSocket): the header, or, from browsers that cannot set it, a first
  `{"type": "auth", "key": ...}` message (`timebase.rest.websocket`).

A missing or wrong key is 401 UNAUTHENTICATED (with `WWW-Authenticate: Bearer`), too many wrong
keys from one address 429 RATE_LIMITED; the core answers 403 PERMISSION_DENIED for a key without
the scope an action needs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from timebase.auth import Caller, Scope
from timebase.auth.authenticator import Authenticator, is_loopback
from timebase.rest.page import is_page_path
from timebase.sdk.errors import Unauthenticated

DOOR = "rest"
AUTHENTICATOR = web.AppKey("timebase_authenticator", Authenticator)
_CALLER = web.RequestKey("timebase_caller", Caller)

#: Routes anyone may call and no rate limit counts (`timebase.rest.middleware.UNLIMITED`): the
#: probes and the API's description.
PROBE_PATHS = frozenset(
    {
        "/api/health",
        "/api/health/live",
        "/api/health/ready",
        # The original TimeBase's probes (status words only).
        "/health",
        "/health/live",
        "/health/ready",
        "/openapi.json",
        "/docs",
    }
)
#: Routes anyone may call (`/api/version` is rate limited like any other route).
OPEN_PATHS = PROBE_PATHS | {"/api/version"}
METRICS_PATH = "/metrics"
STREAM_PATH = "/api/stream"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def caller_of(request: web.Request) -> Caller:
    """The caller of this request, as authenticated by `authenticate` (auth off: a local caller
    with every scope); fails closed on a request that was not authenticated."""
    caller: Caller | None = request.get(_CALLER)
    if caller is None:
        raise Unauthenticated("this request was not authenticated")
    return caller


def authenticated(request: web.Request) -> bool:
    """Whether the request carries a caller (a valid key, or auth off)."""
    return request.get(_CALLER) is not None


def set_caller(request: web.Request, caller: Caller) -> None:
    request[_CALLER] = caller


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> Any:
    authenticator = request.app[AUTHENTICATOR]
    header = request.headers.get("Authorization")
    address = request.remote or ""
    path = request.path
    if not authenticator.enabled:
        set_caller(request, Caller.local(DOOR, address))
    elif path in OPEN_PATHS or is_page_path(path) or (path == STREAM_PATH and header is None):
        # Open; a valid key still shows more (health details); the stream may authenticate
        # with its first message.
        if header is not None:
            set_caller(request, await authenticator.authenticate(header, address, DOOR))
    elif path == METRICS_PATH and header is None and is_loopback(address):
        set_caller(request, Caller(Scope.READ, DOOR, address))
    else:
        set_caller(request, await authenticator.authenticate(header, address, DOOR))
    return await handler(request)
