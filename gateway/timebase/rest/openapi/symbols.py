"""The OpenAPI parts of the symbol catalogue: `GET /api/symbols`, `POST /api/symbols/refresh`,
the original TimeBase's `GET /api/providers/symbols` and `GET /api/providers/{slug}/symbols`,
and `?provider=` on `GET /api/data`."""

from __future__ import annotations

from typing import Any

from timebase.rest.openapi.common import COMMON_HEADERS, errors, ok, ref
from timebase.sdk.conventions import SLUG_PATTERN

_STRING_ARRAY = {"type": "array", "items": {"type": "string"}}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


#: Query parameters (components named `Symbols<Name>`, and `ProviderQuery`).
SYMBOL_PARAMETERS: dict[str, Any] = {
    "SymbolsQuery": _query(
        "q",
        "Case-insensitive text: a prefix or substring of the symbol, or a substring of its name. "
        "Empty: every symbol.",
        {"type": "string", "maxLength": 200},
    ),
    "SymbolsType": _query(
        "type",
        "Only symbols of this type (equity, etf, crypto, fx, index, ...).",
        {"type": "string", "pattern": "^[^\\u0000]*$"},
    ),
    "SymbolsProvider": _query(
        "provider", "Only symbols this provider lists or has stored bars of.", {"type": "string"}
    ),
    "SymbolsLimit": _query(
        "limit",
        "Symbols per page (default 100).",
        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    ),
    "SymbolsOffset": _query(
        "offset",
        "Matches to skip: the `nextOffset` of the previous page.",
        {"type": "integer", "minimum": 0, "default": 0},
    ),
    "ProviderQuery": _query(
        "provider",
        "Provider-aware (the original TimeBase's form): only this provider, exactly as "
        "`/api/providers/{slug}/data/{symbol}`. Empty: the router chooses.",
        {"type": "string", "pattern": f"^({SLUG_PATTERN})?$"},
    ),
}


def symbol_paths() -> dict[str, Any]:
    return {
        "/api/symbols": {
            "get": {
                "operationId": "searchSymbols",
                "summary": "Search the symbol catalogue (paged)",
                "description": "The symbols providers list (their GetSymbols, refreshed at start, "
                "every `symbols.refresh_interval_seconds` and on demand) and the symbols whose "
                "bars are stored. Best matches first: the exact symbol, then symbols starting "
                "with `q`, then the rest, alphabetically.",
                "tags": ["symbols"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    *(
                        {"$ref": "#/components/parameters/Symbols" + p}
                        for p in ("Query", "Type", "Provider", "Limit", "Offset")
                    ),
                ],
                "responses": {
                    "200": ok("SymbolPage", "A page of matches."),
                    **errors(400, 429, 500, 503),
                },
            }
        },
        "/api/symbols/refresh": {
            "post": {
                "operationId": "refreshSymbols",
                "summary": "Ask the providers for their symbols now (write)",
                "description": "Needs the `write` scope; audited as `refresh_symbols`. Body "
                '(optional): `{"provider": "slug"}` to ask only that provider. Providers '
                "without a catalogue (UNIMPLEMENTED) are left out of the answer.",
                "tags": ["symbols"],
                "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": ref("RefreshSymbols")}},
                },
                "responses": {
                    "200": ok("SymbolsRefreshed", "Symbols stored per provider."),
                    **errors(400, 403, 404, 415, 429, 500, 503),
                },
            }
        },
        "/api/providers/symbols": {
            "get": {
                "operationId": "getProviderSymbols",
                "summary": "The original TimeBase's symbol listing: {provider, totalSymbols, "
                "symbols, providers}",
                "description": "Compatibility route, answered in the original's shape at the top "
                "level (no envelope; errors use the envelope). With `?provider=SLUG` the provider "
                "is asked now (a provider without a catalogue lists none); without it, the "
                "catalogue as of the last refresh, each symbol's providers in "
                '`metadata.providers` ("a,b"). `providers` holds the original\'s per-provider '
                "lists (`[{slug, name, symbols}]`, name = slug as the original answers). "
                "`symbols` is a reserved word, never a slug.",
                "tags": ["symbols"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/SymbolsProvider"},
                ],
                "responses": _listing_responses("The provider's (or every provider's) symbols."),
            }
        },
        "/api/providers/{slug}/symbols": {
            "get": {
                "operationId": "getOneProviderSymbols",
                "summary": "One provider's symbols, as `/api/providers/symbols?provider=SLUG`",
                "description": "Compatibility route: the path the original TimeBase's end-to-end "
                "checks list a provider's symbols at; the same answer as "
                "`/api/providers/symbols?provider={slug}` (the provider is asked now). 404 "
                "PROVIDER_NOT_FOUND for an unknown slug.",
                "tags": ["symbols"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/Slug"},
                ],
                "responses": _listing_responses("The provider's symbols."),
            }
        },
    }


def _listing_responses(description: str) -> dict[str, Any]:
    return {
        "200": {
            "description": description,
            "headers": COMMON_HEADERS,
            "content": {"application/json": {"schema": ref("ProviderSymbols")}},
        },
        **errors(400, 404, 429, 500, 503),
    }


def symbol_schemas() -> dict[str, Any]:
    return {
        "CatalogSymbol": {
            "type": "object",
            "required": ["symbol", "name", "type", "providers", "intervals"],
            "properties": {
                "symbol": {"type": "string"},
                "name": {"type": "string", "description": "Empty when no provider names it."},
                "type": {"type": "string", "description": "Empty when no provider types it."},
                "providers": {**_STRING_ARRAY, "description": "Slugs, sorted."},
                "intervals": {
                    **_STRING_ARRAY,
                    "description": "Intervals the providers declare for it (empty: none declared).",
                },
            },
        },
        "SymbolPage": {
            "type": "object",
            "required": ["symbols", "total", "limit", "offset", "nextOffset"],
            "properties": {
                "symbols": {"type": "array", "items": ref("CatalogSymbol")},
                "total": {"type": "integer", "description": "Matches on every page."},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
                "nextOffset": {
                    "type": ["integer", "null"],
                    "description": "Pass as `offset` for the next page; null on the last page.",
                },
            },
        },
        "RefreshSymbols": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"provider": {"type": "string"}},
        },
        "SymbolsRefreshed": {
            "type": "object",
            "required": ["providers", "total"],
            "properties": {
                "providers": {"type": "object", "additionalProperties": {"type": "integer"}},
                "total": {"type": "integer"},
            },
        },
        "ProviderSymbols": {
            "type": "object",
            "required": ["provider", "totalSymbols", "symbols", "providers"],
            "properties": {
                "provider": {"type": ["string", "null"]},
                "totalSymbols": {"type": "integer", "description": "How many `symbols`."},
                "symbols": {"type": "array", "items": ref("ProviderSymbol")},
                "providers": {
                    "type": "array",
                    "description": "The original's per-provider lists, by slug.",
                    "items": {
                        "type": "object",
                        "required": ["slug", "name", "symbols"],
                        "properties": {
                            "slug": {"type": "string"},
                            "name": {"type": "string", "description": "The slug."},
                            "symbols": {"type": "array", "items": ref("ProviderSymbol")},
                        },
                    },
                },
            },
        },
        "ProviderSymbol": {
            "type": "object",
            "required": ["symbol", "name", "type", "intervals", "metadata"],
            "properties": {
                "symbol": {"type": "string"},
                "name": {"type": "string"},
                "type": {"type": "string"},
                "intervals": _STRING_ARRAY,
                "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    }
