"""Who is calling a REST route: the `Caller` the core authorizes writes and admin actions for."""

from __future__ import annotations

from aiohttp import web

from timebase.auth import Caller

DOOR = "rest"


def caller_of(request: web.Request) -> Caller:
    """The caller of this request (auth off: a local caller with every scope)."""
    return Caller.local(DOOR, request.remote or "")
