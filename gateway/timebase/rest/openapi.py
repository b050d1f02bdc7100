"""The OpenAPI 3.1 description of the REST door (`GET /openapi.json`), as a Python dict.

A test checks that every route the aiohttp application registers is described here and that
every path described here is registered, so the spec stays true. docs/rest.md is checked
against it as well.
"""

from __future__ import annotations

from typing import Any

from timebase.rest.encoders import MEDIA_TYPES, WARNINGS_HEADER, Format
from timebase.rest.errors import ERROR_CODES
from timebase.sdk.conventions import SLUG_PATTERN
from timebase.sdk.intervals import INTERVALS

_REF = "#/components/schemas/"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _ok(data: str, description: str) -> dict[str, Any]:
    """A 200 with the success envelope around `data`."""
    return {
        "description": description,
        "headers": _COMMON_HEADERS,
        "content": {
            "application/json": {
                "schema": {
                    "allOf": [
                        _ref("SuccessEnvelope"),
                        {"type": "object", "properties": {"data": _ref(data)}},
                    ]
                }
            }
        },
    }


def _errors(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in statuses:
        codes = sorted(code for code, s in ERROR_CODES.items() if s == status)
        headers = dict(_COMMON_HEADERS)
        if status == 429:
            headers["Retry-After"] = {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer"},
            }
        out[str(status)] = {
            "description": "Error: " + ", ".join(codes),
            "headers": headers,
            "content": {"application/json": {"schema": _ref("ErrorEnvelope")}},
        }
    return out


_ADMIN_NOTE = (
    "Admin route. The REST door binds 127.0.0.1 unless `TIMEBASE_HOST` says otherwise; only "
    "folders inside the configured provider directories can be installed, never an arbitrary "
    "path or URL."
)

_COMMON_HEADERS: dict[str, Any] = {
    "X-Request-ID": {
        "description": "The request id (the client's, or a new one); in every log line.",
        "schema": {"type": "string"},
    },
}
_RATE_HEADERS: dict[str, Any] = {
    "X-RateLimit-Limit": {
        "description": "Requests the client's bucket holds (the burst).",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the bucket after this one.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "Seconds until the bucket is full again.",
        "schema": {"type": "integer"},
    },
}

_PARAMETERS: dict[str, Any] = {
    "RequestId": {
        "name": "X-Request-ID",
        "in": "header",
        "required": False,
        "description": "Correlation id for this request (1-128 printable ASCII characters); "
        "generated when absent, always echoed in the response.",
        "schema": {"type": "string", "maxLength": 128},
    },
    "Symbol": {
        "name": "symbol",
        "in": "path",
        "required": True,
        "description": "Ticker (case-insensitive): letters, digits and . - ^ = : _ "
        "(e.g. AAPL, BRK.B, ^GSPC, EURUSD=X, BTC-USD, SYN:ACME).",
        "schema": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9.\\-^=:_]+$"},
    },
    "Slug": {
        "name": "slug",
        "in": "path",
        "required": True,
        "description": "Provider slug (a running add-on, or the name of imported bars).",
        "schema": {"type": "string", "pattern": f"^{SLUG_PATTERN}$"},
    },
    "Interval": {
        "name": "interval",
        "in": "query",
        "required": True,
        "description": "Bar interval.",
        "schema": {"type": "string", "enum": list(INTERVALS)},
    },
    "IntervalOptional": {
        "name": "interval",
        "in": "query",
        "required": False,
        "description": "Bar interval to rank providers for (default 1d).",
        "schema": {"type": "string", "enum": list(INTERVALS), "default": "1d"},
    },
    "Start": {
        "name": "start",
        "in": "query",
        "required": False,
        "description": "Start of the range, inclusive: ISO 8601 date (00:00 UTC) or datetime "
        "(with an offset, or UTC when it has none). Required unless `limit` is set.",
        "schema": {"type": "string"},
        "examples": {"date": {"value": "2024-01-02"}, "instant": {"value": "2024-01-02T14:30Z"}},
    },
    "End": {
        "name": "end",
        "in": "query",
        "required": False,
        "description": "End of the range, exclusive — except that a date-only end includes that "
        "whole day (2024-01-05 means up to 2024-01-06T00:00Z). Default: now.",
        "schema": {"type": "string"},
        "examples": {"date": {"value": "2024-01-05"}},
    },
    "Limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Only the N most recent bars of the range; without `start` the range "
        "reaches back as far as needed.",
        "schema": {"type": "integer", "minimum": 1},
    },
    "Refresh": {
        "name": "refresh",
        "in": "query",
        "required": False,
        "description": "Fetch the range from the provider again even if it is stored.",
        "schema": {"type": "boolean", "default": False},
    },
    "Format": {
        "name": "format",
        "in": "query",
        "required": False,
        "description": "Response format; overrides the Accept header (json, csv, arrow).",
        "schema": {"type": "string", "enum": [f.value for f in Format]},
    },
}


def _bar_operation(summary: str, description: str, params: list[str]) -> dict[str, Any]:
    return {
        "summary": summary,
        "description": description
        + "\n\nContent negotiation: `Accept: application/json` (default), `text/csv` or "
        "`application/vnd.apache.arrow.stream` (or `?format=`); gzip or deflate with "
        "`Accept-Encoding`. JSON and CSV hold at most 100,000 bars (configurable, "
        "`rest.max_bars`); Arrow has no limit. For CSV and Arrow the warnings are in the "
        f"`{WARNINGS_HEADER}` header.",
        "tags": ["bars"],
        "parameters": [{"$ref": "#/components/parameters/" + p} for p in params],
        "responses": {
            "200": {
                "description": "The bars, ascending by timestamp, one per timestamp.",
                "headers": {
                    **_COMMON_HEADERS,
                    **_RATE_HEADERS,
                    WARNINGS_HEADER: {
                        "description": "CSV and Arrow responses: the warnings as a JSON list.",
                        "schema": {"type": "string"},
                    },
                },
                "content": {
                    MEDIA_TYPES[Format.JSON]: {
                        "schema": {
                            "allOf": [
                                _ref("SuccessEnvelope"),
                                {"type": "object", "properties": {"data": _ref("BarsData")}},
                            ]
                        }
                    },
                    MEDIA_TYPES[Format.CSV]: {
                        "schema": {"type": "string"},
                        "example": "symbol,timestamp,open,high,low,close,volume,interval,provider,"
                        "metadata\nAAPL,2024-01-02T00:00:00Z,187.15,188.44,183.89,185.64,"
                        "82488700,1d,yahoo-finance,\n",
                    },
                    MEDIA_TYPES[Format.ARROW]: {
                        "schema": {"type": "string", "contentEncoding": "binary"},
                        "description": "Arrow IPC stream: symbol string, timestamp "
                        "timestamp[us, tz=UTC], open high low close volume float64, interval "
                        "string, provider string, metadata string (JSON or null).",
                    },
                },
            },
            **_errors(400, 404, 429, 500, 503),
        },
    }


def _schemas() -> dict[str, Any]:
    meta = {
        "type": "object",
        "required": ["requestId", "timestamp", "processingTimeMs"],
        "properties": {
            "requestId": {"type": "string"},
            "timestamp": {"type": "string", "format": "date-time"},
            "processingTimeMs": {"type": "number"},
        },
    }
    warning = {
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": {
                "type": "string",
                "enum": [
                    "PARTIAL_DATA",
                    "STALE_DATA",
                    "PROVIDER_FALLBACK",
                    "INVALID_BARS_SKIPPED",
                    "RATE_LIMITED",
                ],
            },
            "message": {"type": "string"},
            "provider": {"type": "string"},
            "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"},
            "as_of": {"type": "string", "format": "date-time"},
            "count": {"type": "integer"},
        },
    }
    number = {"type": "number"}
    bar = {
        "type": "object",
        "required": ["timestamp", "open", "high", "low", "close", "volume", "provider"],
        "properties": {
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "Bar start, RFC 3339 UTC with Z (e.g. 2024-01-02T00:00:00Z).",
            },
            "open": number,
            "high": number,
            "low": number,
            "close": number,
            "volume": number,
            "provider": {"type": "string"},
            "metadata": {
                "type": "object",
                "description": "Extensions (e.g. adj_close, derived_from); absent when empty.",
            },
        },
    }
    quota = {
        "type": "object",
        "properties": {
            "requestsPerMinuteLimit": {"type": ["integer", "null"]},
            "requestsPerDayLimit": {"type": ["integer", "null"]},
            "requestsThisMinute": {"type": "integer"},
            "requestsToday": {"type": "integer"},
            "blockedUntil": {"type": ["string", "null"], "format": "date-time"},
        },
    }
    provider = {
        "type": "object",
        "required": ["slug", "status"],
        "properties": {
            "slug": {"type": "string"},
            "name": {"type": ["string", "null"]},
            "version": {"type": ["string", "null"]},
            "status": {
                "type": "string",
                "description": "The supervisor's status (ready, starting, unhealthy, failed, "
                "…), `disabled` after an authentication failure, or `stored` for a name that "
                "only has stored bars (imported data).",
            },
            "address": {"type": ["string", "null"]},
            "latencyMs": {"type": ["number", "null"]},
            "uptime": {"type": ["number", "null"]},
            "restarts": {"type": "integer"},
            "lastError": {"type": ["string", "null"]},
            "circuit": {"type": "string", "enum": ["closed", "open", "half_open"]},
            "intervals": {"type": "array", "items": {"type": "string"}},
            "symbolPatterns": {"type": "array", "items": {"type": "string"}},
            "supportsHistorical": {"type": "boolean"},
            "supportsRealtime": {"type": "boolean"},
            "cost": {"type": ["string", "null"]},
            "quota": quota,
        },
    }
    return {
        "Meta": meta,
        "Warning": warning,
        "SuccessEnvelope": {
            "type": "object",
            "required": ["success", "data", "meta"],
            "properties": {"success": {"const": True}, "data": {}, "meta": _ref("Meta")},
        },
        "Error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "enum": sorted(ERROR_CODES)},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        },
        "ErrorEnvelope": {
            "type": "object",
            "required": ["success", "error", "meta"],
            "properties": {
                "success": {"const": False},
                "error": _ref("Error"),
                "meta": _ref("Meta"),
            },
        },
        "Bar": bar,
        "BarsData": {
            "type": "object",
            "required": ["symbol", "interval", "provider", "count", "data", "warnings"],
            "properties": {
                "symbol": {"type": "string"},
                "interval": {"type": "string", "enum": list(INTERVALS)},
                "provider": {
                    "type": ["string", "null"],
                    "description": "The provider of every bar, `mixed` when several, null "
                    "when there is no bar.",
                },
                "count": {"type": "integer"},
                "data": {"type": "array", "items": _ref("Bar")},
                "warnings": {"type": "array", "items": _ref("Warning")},
            },
        },
        "Provider": provider,
        "ProviderList": {
            "type": "object",
            "required": ["providers"],
            "properties": {"providers": {"type": "array", "items": _ref("Provider")}},
        },
        "InstallProvider": {
            "type": "object",
            "required": ["folder"],
            "additionalProperties": False,
            "properties": {
                "folder": {
                    "type": "string",
                    "description": "A provider folder directly inside a configured providers "
                    "directory (absolute path), or its name.",
                },
            },
        },
        "ProviderRemoved": {
            "type": "object",
            "required": ["slug", "removed"],
            "properties": {"slug": {"type": "string"}, "removed": {"const": True}},
        },
        "SymbolProviders": {
            "type": "object",
            "required": ["symbol", "interval", "candidates", "excluded"],
            "properties": {
                "symbol": {"type": "string"},
                "interval": {"type": "string"},
                "candidates": {
                    "type": "array",
                    "description": "Providers in the order the router would ask them.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "slug": {"type": "string"},
                            "rank": {"type": "integer"},
                            "derivedFrom": {"type": ["string", "null"]},
                            "latestStored": {"type": ["string", "null"], "format": "date-time"},
                            "reasons": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
                "excluded": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"slug": {"type": "string"}, "reason": {"type": "string"}},
                    },
                },
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "database", "providers"],
            "properties": {
                "status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy"]},
                "message": {"type": "string"},
                "database": {
                    "type": "object",
                    "properties": {
                        "up": {"type": "boolean"},
                        "error": {"type": ["string", "null"]},
                    },
                },
                "providers": {
                    "type": "object",
                    "properties": {
                        "ready": {"type": "integer"},
                        "total": {"type": "integer"},
                        "down": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
        "Version": {
            "type": "object",
            "required": ["name", "version"],
            "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
        },
        "StreamControl": {
            "type": "object",
            "required": ["action", "symbol"],
            "properties": {
                "action": {
                    "type": "string",
                    "enum": ["subscribe", "unsubscribe", "pause", "resume"],
                },
                "symbol": {"type": "string"},
                "interval": {"type": "string", "enum": list(INTERVALS)},
                "provider": {
                    "type": "string",
                    "description": "Reserved: the gateway chooses the real-time provider (each "
                    "bar names it); naming one is answered with an INVALID_REQUEST error.",
                },
            },
        },
        "StreamBar": {
            "type": "object",
            "required": [
                "type",
                "symbol",
                "interval",
                "provider",
                "timestamp",
                "open",
                "high",
                "low",
                "close",
                "volume",
                "final",
            ],
            "properties": {
                "type": {"const": "bar"},
                "symbol": {"type": "string"},
                "interval": {"type": "string"},
                "provider": {"type": "string"},
                "timestamp": {"type": "string", "format": "date-time"},
                "open": number,
                "high": number,
                "low": number,
                "close": number,
                "volume": number,
                "final": {"type": "boolean"},
                "metadata": {"type": "object"},
            },
        },
        "StreamWarning": {
            "allOf": [
                _ref("Warning"),
                {
                    "type": "object",
                    "required": ["type", "symbol", "interval"],
                    "properties": {
                        "type": {"const": "warning"},
                        "symbol": {"type": "string"},
                        "interval": {"type": "string"},
                    },
                },
            ]
        },
        "StreamError": {
            "type": "object",
            "required": ["type", "code", "message"],
            "properties": {
                "type": {"const": "error"},
                "code": {"type": "string"},
                "message": {"type": "string"},
            },
        },
        "StreamAck": {
            "type": "object",
            "required": ["type", "action", "symbol"],
            "properties": {
                "type": {"const": "ack"},
                "action": {"type": "string"},
                "symbol": {"type": "string"},
                "interval": {"type": "string"},
            },
        },
    }


def build_spec(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the REST door."""
    bar_params = ["RequestId", "Symbol", "Interval", "Start", "End", "Limit", "Refresh", "Format"]
    paths: dict[str, Any] = {
        "/api/data/{symbol}": {
            "get": {
                **_bar_operation(
                    "Bars of a symbol (the router picks the provider)",
                    "Symbol-centric: the gateway chooses the provider, serves stored ranges "
                    "from the provider that fetched them and fetches only what is missing.",
                    bar_params,
                ),
                "operationId": "getBars",
            }
        },
        "/api/providers/{slug}/data/{symbol}": {
            "get": {
                **_bar_operation(
                    "Bars of a symbol from one provider",
                    "Provider-aware: only the named provider is asked (a name with stored bars "
                    "but no running add-on is served from the store).",
                    ["Slug", *bar_params],
                ),
                "operationId": "getProviderBars",
            }
        },
        "/api/symbols/{symbol}/providers": {
            "get": {
                "operationId": "getSymbolProviders",
                "summary": "Providers for a symbol, ranked as the router would rank them",
                "tags": ["providers"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/Symbol"},
                    {"$ref": "#/components/parameters/IntervalOptional"},
                ],
                "responses": {
                    "200": _ok("SymbolProviders", "The ranking and the excluded providers."),
                    **_errors(400, 429, 500, 503),
                },
            }
        },
        "/api/providers": {
            "get": {
                "operationId": "listProviders",
                "summary": "Every provider: status, capabilities, latency, uptime, quota",
                "tags": ["providers"],
                "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                "responses": {
                    "200": _ok("ProviderList", "The providers, running ones first."),
                    **_errors(429, 500, 503),
                },
            },
            "post": {
                "operationId": "installProvider",
                "summary": "Admin: install a provider folder and start it (no gateway restart)",
                "description": _ADMIN_NOTE
                + " The folder (manifest, and a Dockerfile or src/main.py for the configured "
                "runtime) must lie directly inside the bundled providers folder or a "
                "`providers.directories` entry; a bare name is looked up there. The answer comes "
                "once the provider is ready or failed (`status`, `lastError`); a failed provider "
                "stays listed until removed.",
                "tags": ["admin"],
                "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("InstallProvider")}},
                },
                "responses": {
                    "201": {
                        **_ok("Provider", "Installed: the provider, ready or failed."),
                        "headers": {
                            **_COMMON_HEADERS,
                            "Location": {
                                "description": "`/api/providers/{slug}` of the new provider.",
                                "schema": {"type": "string"},
                            },
                        },
                    },
                    **_errors(400, 409, 429, 500, 501),
                },
            },
        },
        "/api/providers/{slug}": {
            "get": {
                "operationId": "getProvider",
                "summary": "One provider",
                "tags": ["providers"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/Slug"},
                ],
                "responses": {
                    "200": _ok("Provider", "The provider."),
                    **_errors(404, 429, 500, 503),
                },
            },
            "delete": {
                "operationId": "removeProvider",
                "summary": "Admin: stop a provider and forget it (its folder stays on disk)",
                "description": _ADMIN_NOTE
                + " Answers once the provider's process or container is gone.",
                "tags": ["admin"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/Slug"},
                ],
                "responses": {
                    "200": _ok("ProviderRemoved", "Removed."),
                    **_errors(400, 404, 429, 500, 501),
                },
            },
        },
        "/api/health": {
            "get": {
                "operationId": "getHealth",
                "summary": "Health of the database and the providers (not rate limited)",
                "description": "200 when the database is reachable (status healthy, or degraded "
                "when some providers are down); 503 DATABASE_ERROR when it is not.",
                "tags": ["service"],
                "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                "responses": {"200": _ok("Health", "Healthy or degraded."), **_errors(500, 503)},
            }
        },
        "/api/version": {
            "get": {
                "operationId": "getVersion",
                "summary": "TimeBase's name and version",
                "tags": ["service"],
                "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                "responses": {"200": _ok("Version", "The version."), **_errors(429, 500)},
            }
        },
        "/api/stream": {
            "get": {
                "operationId": "stream",
                "summary": "Real-time bars over a WebSocket",
                "description": "Upgrade to a WebSocket. Client messages are `StreamControl` "
                "JSON objects; the server sends `StreamAck`, `StreamBar`, `StreamWarning` and "
                "`StreamError` objects (field `type`). Bars in progress have `final: false`; "
                "only final bars are stored. A bad message gets an error and the stream stays "
                "open.",
                "tags": ["streaming"],
                "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                "responses": {
                    "101": {"description": "Switching to the WebSocket protocol."},
                    **_errors(400, 429, 503),
                },
                "x-websocket": {
                    "client": _ref("StreamControl"),
                    "server": {
                        "oneOf": [
                            _ref("StreamAck"),
                            _ref("StreamBar"),
                            _ref("StreamWarning"),
                            _ref("StreamError"),
                        ]
                    },
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "tags": ["service"],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/docs": {
            "get": {
                "operationId": "getDocs",
                "summary": "This document as a self-contained HTML page (no CDN)",
                "tags": ["service"],
                "responses": {
                    "200": {
                        "description": "HTML",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "getMetrics",
                "summary": "Prometheus metrics (text format)",
                "tags": ["service"],
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TimeBase REST API",
            "version": version,
            "description": "OHLCV bars from many providers through one API. Every JSON response "
            "uses the envelope `{success, data | error, meta}`; errors carry a stable `code`.",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "bars", "description": "Historical bars"},
            {"name": "providers", "description": "Data providers and routing"},
            {"name": "admin", "description": "Providers installed and removed at run time"},
            {"name": "streaming", "description": "Real-time bars"},
            {"name": "service", "description": "Health, version, metrics, documentation"},
        ],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "parameters": _PARAMETERS,
        },
        "x-error-codes": dict(sorted(ERROR_CODES.items())),
    }
