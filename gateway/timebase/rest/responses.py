"""Building REST responses: bodies compressed by aiohttp when large and the client accepts it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from timebase.rest.envelope import REQUEST_ID_KEY, STARTED_KEY, success_body

#: Bodies at least this large are compressed when the client accepts gzip or deflate (aiohttp
#: compresses bodies over 4 KiB off the event loop).
COMPRESS_MIN_BYTES = 1024


def respond(
    body: bytes, content_type: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    response = web.Response(
        body=body, headers={**(headers or {}), "Vary": "Accept, Accept-Encoding"}
    )
    response.content_type = content_type
    if content_type.startswith(("application/json", "text/")):
        response.charset = "utf-8"
    if len(body) >= COMPRESS_MIN_BYTES:
        response.enable_compression()
    return response


def ok(request: web.Request, data: Any, status: int = 200) -> web.Response:
    """The success envelope of `data`."""
    body = success_body(data, request[REQUEST_ID_KEY], request[STARTED_KEY])
    response = respond(body, "application/json")
    response.set_status(status)
    return response
