"""The OpenAPI document's schemas (`components.schemas`): envelopes, bars, providers, health,
and the WebSocket messages."""

from __future__ import annotations

from typing import Any

from timebase.rest.errors import ERROR_CODES
from timebase.rest.openapi.common import ref
from timebase.sdk.intervals import INTERVALS


def schemas() -> dict[str, Any]:
    meta = {
        "type": "object",
        "required": ["requestId", "timestamp", "processingTimeMs"],
        "properties": {
            "requestId": {"type": "string"},
            "timestamp": {"type": "string", "format": "date-time"},
            "processingTimeMs": {"type": "number"},
            "calendar": {
                "type": "string",
                "description": "Bar answers: the trading calendar that applied (e.g. XNYS, "
                "24/7; docs/calendars.md); absent when none did (continuous time).",
            },
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
                    "STORE_FAILED",
                ],
                "description": "INVALID_BARS_SKIPPED comes with every answer covering a range "
                "fetched with invalid bars skipped (start/end: the range, count: the bars), "
                "until a refresh fetches the range again with valid bars. STORE_FAILED: bars "
                "fetched for the answer could not be stored; the answer holds them, nothing is "
                "recorded as fetched, so the next request fetches them again.",
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
            "enabled": {
                "type": "boolean",
                "description": "False once disabled (status `disabled`).",
            },
            "repository": {
                "type": ["string", "null"],
                "description": "The Git repository it was installed from (null otherwise).",
            },
            "commit": {
                "type": ["string", "null"],
                "description": "The commit of that repository it runs (null otherwise).",
            },
        },
    }
    return {
        "Meta": meta,
        "Warning": warning,
        "SuccessEnvelope": {
            "type": "object",
            "required": ["success", "data", "meta"],
            "properties": {"success": {"const": True}, "data": {}, "meta": ref("Meta")},
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
                "error": ref("Error"),
                "meta": ref("Meta"),
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
                "data": {"type": "array", "items": ref("Bar")},
                "warnings": {"type": "array", "items": ref("Warning")},
            },
        },
        "Provider": provider,
        "ProviderList": {
            "type": "object",
            "required": ["providers"],
            "properties": {"providers": {"type": "array", "items": ref("Provider")}},
        },
        "InstallProvider": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["folder"],
                    "additionalProperties": False,
                    "properties": {
                        "folder": {
                            "type": "string",
                            "minLength": 1,
                            "description": "A provider folder directly inside a configured "
                            "providers directory (absolute path), or its name.",
                        },
                    },
                },
                {
                    "type": "object",
                    "required": ["repository"],
                    "additionalProperties": False,
                    "properties": {
                        "repository": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 2048,
                            "pattern": "^([Hh][Tt][Tt][Pp][Ss]?|[Ss][Ss][Hh]|[Gg][Ii][Tt]|[Ff][Ii][Ll][Ee])"
                            "://[^\\s\\x00-\\x1f]*$",
                            "description": "A Git repository whose root holds a "
                            "`repository.yaml` listing its add-ons (docs/repositories.md).",
                        },
                        "slug": {
                            "type": "string",
                            "description": "The add-on to install; optional when the "
                            "repository lists one.",
                        },
                    },
                },
            ],
            "examples": [
                {"folder": "synthetic"},
                {"repository": "https://example.org/acme-providers.git", "slug": "acme"},
            ],
        },
        "EmptyBody": {
            "type": "object",
            "additionalProperties": False,
            "description": "No fields: send no body, or `{}` as application/json.",
        },
        "SetProviderEnabled": {
            "type": "object",
            "required": ["enabled"],
            "additionalProperties": False,
            "properties": {"enabled": {"type": "boolean"}},
            "examples": [{"enabled": False}],
        },
        "AuditPage": {
            "type": "object",
            "required": ["entries", "count", "nextCursor"],
            "properties": {
                "entries": {"type": "array", "items": ref("AuditEntry")},
                "count": {"type": "integer"},
                "nextCursor": {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next (older) page; null on the "
                    "last page.",
                },
            },
        },
        "AuditEntry": {
            "type": "object",
            "required": ["id", "time", "door", "action", "outcome", "detail"],
            "properties": {
                "id": {"type": "integer"},
                "time": {"type": "string", "format": "date-time"},
                "keyName": {
                    "type": ["string", "null"],
                    "description": "The caller's key (null with auth off).",
                },
                "keyPrefix": {"type": ["string", "null"]},
                "address": {"type": "string", "description": "The client's address."},
                "door": {"type": "string", "enum": ["grpc", "flight", "rest", "websocket", "cli"]},
                "action": {"type": "string"},
                "symbol": {"type": ["string", "null"]},
                "provider": {"type": ["string", "null"]},
                "interval": {"type": ["string", "null"]},
                "rangeStart": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "Start of the range acted on (an ingest: its first bar).",
                },
                "rangeEnd": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "End of the half-open range (an ingest: its last bar).",
                },
                "rows": {
                    "type": ["integer", "null"],
                    "description": "Bars written or deleted (null: the action has no rows).",
                },
                "outcome": {
                    "type": "string",
                    "description": "`ok`, or the error code that refused or failed the action.",
                },
                "detail": {
                    "type": "object",
                    "description": "Everything else: the error message, a batch's symbols or "
                    "providers, the data sets an invalidation kept, `override_provider`.",
                },
            },
        },
        "ProviderRemoved": {
            "type": "object",
            "required": ["slug", "removed"],
            "properties": {"slug": {"type": "string"}, "removed": {"const": True}},
        },
        "Events": {
            "type": "object",
            "required": ["symbol", "interval", "count", "events", "warnings"],
            "properties": {
                "symbol": {"type": "string"},
                "interval": {"type": "string"},
                "count": {"type": "integer", "minimum": 0},
                "events": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["timestamp", "provider", "kind", "value"],
                        "properties": {
                            "timestamp": {"type": "string", "format": "date-time"},
                            "provider": {"type": "string"},
                            "kind": {"type": "string", "enum": ["dividend", "split"]},
                            "value": {"type": "number"},
                        },
                    },
                },
                "warnings": {"type": "array", "items": ref("Warning")},
            },
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
                ref("Warning"),
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
