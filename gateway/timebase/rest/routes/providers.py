"""Providers: the listing, one provider, symbol discovery, and the admin routes (install from
a providers directory or a Git repository, update, enable/disable, refresh, remove; see
docs/rest.md and docs/repositories.md)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from timebase.audit import AuditAction
from timebase.auth import Caller
from timebase.rest import render
from timebase.rest.auth import caller_of
from timebase.rest.keys import API
from timebase.rest.params import interval as parse_interval
from timebase.rest.params import json_object, only
from timebase.rest.responses import ok
from timebase.sdk.errors import InvalidRequestError
from timebase.sdk.intervals import Interval

routes = web.RouteTableDef()


@routes.get("/api/providers", allow_head=False)
async def providers(request: web.Request) -> web.Response:
    listing = await request.app[API].providers()
    return ok(request, {"providers": [render.provider(p) for p in listing]})


# "symbols" is a reserved word, never a slug: /api/providers/symbols is its own route (GET only).
@routes.get("/api/providers/{slug:(?!symbols$)[^{}/]+}", allow_head=False)
async def provider(request: web.Request) -> web.Response:
    found = await request.app[API].provider(request.match_info["slug"], "slug")
    return ok(request, render.provider(found))


@routes.get("/api/symbols/{symbol}/providers", allow_head=False)
async def symbol_providers(request: web.Request) -> web.Response:
    only(request.query, {"interval"})
    interval = parse_interval(request.query.get("interval", Interval.D1.value))
    answer = await request.app[API].symbol_providers(request.match_info["symbol"], interval)
    return ok(request, render.symbol_providers(answer))


@routes.post("/api/providers")
async def install_provider(request: web.Request) -> web.Response:
    caller = caller_of(request)
    async with _refusal_audited(request, caller, AuditAction.INSTALL_PROVIDER):
        folder, repository, slug = await _install_body(request)
    info = await request.app[API].install_provider(
        folder, repository=repository, slug=slug, caller=caller
    )
    response = ok(request, render.provider(info), status=201)
    response.headers["Location"] = f"/api/providers/{info.slug}"
    return response


async def _install_body(request: web.Request) -> tuple[str, str, str]:
    """(folder, repository, slug) of an install: a folder, or a repository (and a slug)."""
    only(request.query, set())
    body = await json_object(request, {"folder", "repository", "slug"})
    if "repository" in body:
        repository, slug = body.get("repository"), body.get("slug", "")
        if not isinstance(repository, str):
            raise InvalidRequestError(
                "repository: expected a string, the URL of a Git repository", field="repository"
            )
        if not isinstance(slug, str):
            raise InvalidRequestError(
                "slug: expected a string, the add-on to install", field="slug"
            )
        if "folder" in body:
            raise InvalidRequestError(
                "folder: give a folder or a repository, not both", field="folder"
            )
        return "", repository, slug
    folder = body.get("folder")
    if not isinstance(folder, str):
        raise InvalidRequestError(
            "folder: required: a string, the provider folder inside a configured providers "
            "directory (or its name), unless a repository is given",
            field="folder",
        )
    if "slug" in body:
        raise InvalidRequestError("slug: only with a repository", field="slug")
    return folder, "", ""


_SLUG = "/api/providers/{slug:(?!symbols$)[^{}/]+}"


@contextlib.asynccontextmanager
async def _refusal_audited(
    request: web.Request, caller: Caller, action: AuditAction, **fields: Any
) -> AsyncIterator[None]:
    """Checks of a request the core never sees: what they refuse is audited here (with
    `fields`), then raised as it was (the error response)."""
    try:
        yield
    except Exception as exc:
        await request.app[API].refused(caller, action, exc, **fields)
        raise


async def _no_body(request: web.Request) -> None:
    """No query and no body, or an empty JSON object (`{}`)."""
    only(request.query, set())
    if request.body_exists:
        await json_object(request, set())


@routes.patch(_SLUG)
async def set_provider_enabled(request: web.Request) -> web.Response:
    caller = caller_of(request)
    slug = request.match_info["slug"]
    async with _refusal_audited(request, caller, AuditAction.DISABLE_PROVIDER, provider=slug):
        only(request.query, set())
        body = await json_object(request, {"enabled"})
        enabled = body.get("enabled")
        if not isinstance(enabled, bool):
            raise InvalidRequestError("enabled: required: true or false", field="enabled")
    info = await request.app[API].set_provider_enabled(slug, enabled, caller=caller)
    return ok(request, render.provider(info))


@routes.post(_SLUG + "/update")
async def update_provider(request: web.Request) -> web.Response:
    caller = caller_of(request)
    slug = request.match_info["slug"]
    async with _refusal_audited(request, caller, AuditAction.UPDATE_PROVIDER, provider=slug):
        await _no_body(request)
    info = await request.app[API].update_provider(slug, caller=caller)
    return ok(request, render.provider(info))


@routes.post(_SLUG + "/refresh")
async def refresh_provider(request: web.Request) -> web.Response:
    caller = caller_of(request)
    slug = request.match_info["slug"]
    async with _refusal_audited(request, caller, AuditAction.REFRESH_PROVIDER, provider=slug):
        await _no_body(request)
    info = await request.app[API].refresh_provider(slug, caller=caller)
    return ok(request, render.provider(info))


@routes.delete("/api/providers/{slug:(?!symbols$)[^{}/]+}")
async def remove_provider(request: web.Request) -> web.Response:
    caller = caller_of(request)
    slug = request.match_info["slug"]
    async with _refusal_audited(request, caller, AuditAction.REMOVE_PROVIDER, provider=slug):
        only(request.query, set())
    await request.app[API].remove_provider(slug, caller=caller)
    return ok(request, {"slug": slug, "removed": True})
