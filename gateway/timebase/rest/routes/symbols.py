"""The symbol catalogue: `GET /api/symbols` (search, paged), `POST /api/symbols/refresh` (write),
and the original TimeBase's `GET /api/providers/symbols?provider=SLUG` (its JSON shape, not
wrapped in our envelope). Registered before the provider routes, so `/api/providers/symbols` is
never read as a provider called "symbols" (a reserved word, never a valid slug)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from timebase.audit import AuditAction
from timebase.gateway.catalogue import check_search
from timebase.rest.auth import caller_of
from timebase.rest.keys import API
from timebase.rest.params import json_object, only
from timebase.rest.responses import ok, respond
from timebase.sdk.errors import InvalidRequestError
from timebase.store.symbols import CatalogEntry, CatalogSymbol

routes = web.RouteTableDef()

_SEARCH_PARAMS = frozenset({"q", "type", "provider", "limit", "offset"})


def _count(raw: str | None, field: str) -> int:
    if raw is None:
        return 0
    text = raw.strip()
    if not text.isdigit():
        raise InvalidRequestError(
            f"{field}: expected a non-negative integer, got {raw!r}", field=field
        )
    return int(text)


def catalog_symbol(s: CatalogSymbol) -> dict[str, Any]:
    return {
        "symbol": s.symbol,
        "name": s.name,
        "type": s.type,
        "providers": list(s.providers),
        "intervals": list(s.intervals),
    }


def _entry(e: CatalogEntry, provider: str) -> dict[str, Any]:
    return {
        "symbol": e.symbol,
        "name": e.name,
        "type": e.type,
        "intervals": list(e.intervals),
        "metadata": {**e.metadata, "providers": provider},
    }


@routes.get("/api/symbols", allow_head=False)
async def search(request: web.Request) -> web.Response:
    query = request.query
    only(query, _SEARCH_PARAMS)
    limit = _count(query.get("limit"), "limit")
    if "limit" in query and limit == 0:
        raise InvalidRequestError("limit: must be 1 to 1000 (got 0)", field="limit")
    checked = check_search(
        query.get("q", ""),
        query.get("type", ""),
        query.get("provider", ""),
        limit,
        _count(query.get("offset"), "offset"),
    )
    page = await request.app[API].search_symbols(checked)
    end = checked.offset + len(page.symbols)
    return ok(
        request,
        {
            "symbols": [catalog_symbol(s) for s in page.symbols],
            "total": page.total,
            "limit": checked.limit,
            "offset": checked.offset,
            "nextOffset": end if end < page.total else None,
        },
    )


@routes.post("/api/symbols/refresh")
async def refresh(request: web.Request) -> web.Response:
    caller = caller_of(request)
    try:
        only(request.query, set())
        body = await json_object(request, {"provider"}) if request.body_exists else {}
        provider = body.get("provider")
        if "provider" in body and not isinstance(provider, str):
            raise InvalidRequestError(
                "provider: expected a provider slug (a string)", field="provider"
            )
    except Exception as exc:  # refused before the core saw it: audited here
        await request.app[API].refused(caller, AuditAction.REFRESH_SYMBOLS, exc)
        raise
    counts = await request.app[API].refresh_symbols(provider or None, caller=caller)
    return ok(request, {"providers": counts, "total": sum(counts.values())})


@routes.get("/api/providers/symbols", allow_head=False)
async def provider_symbols(request: web.Request) -> web.Response:
    """The original TimeBase's route: `{provider, totalSymbols, symbols, providers}` at the top
    level (`providers`: the original's per-provider lists, `[{slug, name, symbols}]`)."""
    only(request.query, {"provider"})
    return await _listing(request, request.query.get("provider", "").strip())


# The original's end-to-end checks list one provider's symbols at this path ("symbols" is
# never a slug, so /api/providers/symbols/symbols is no provider's).
@routes.get("/api/providers/{slug:(?!symbols$)[^{}/]+}/symbols", allow_head=False)
async def one_provider_symbols(request: web.Request) -> web.Response:
    """`/api/providers/symbols?provider=SLUG` under the path the original's checks use."""
    only(request.query, frozenset())
    return await _listing(request, request.match_info["slug"])


async def _listing(request: web.Request, slug: str) -> web.Response:
    api = request.app[API]
    symbols: list[dict[str, Any]]
    if slug:
        symbols = [_entry(e, slug) for e in await api.provider_symbols(slug)]
        per_provider = [{"slug": slug, "name": slug, "symbols": symbols}]
    else:
        symbols = [
            {
                "symbol": s.symbol,
                "name": s.name,
                "type": s.type,
                "intervals": list(s.intervals),
                "metadata": {**s.metadata, "providers": ",".join(s.providers)},
            }
            for s in await api.federated_symbols()
        ]
        per_provider = [
            {"slug": p, "name": p, "symbols": [_entry(e, p) for e in entries]}
            for p, entries in (await api.listed_symbols()).items()
        ]
    body = {
        "provider": slug or None,
        "totalSymbols": len(symbols),
        "symbols": symbols,
        "providers": per_provider,
    }
    return respond(_json(body), "application/json")


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
