"""Shared parts of the OpenAPI document: references, the success and error responses, the
headers and parameters every route uses, and the shape of a bar route."""

from __future__ import annotations

from typing import Any

from timebase.gateway.bar_request import MAX_BARS_PER_REQUEST
from timebase.rest.encoders import CALENDAR_HEADER, MEDIA_TYPES, WARNINGS_HEADER, Format
from timebase.rest.errors import ERROR_CODES
from timebase.sdk.conventions import SLUG_PATTERN
from timebase.sdk.intervals import INTERVALS

REF_PREFIX = "#/components/schemas/"


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF_PREFIX + name}


def ok(data: str, description: str) -> dict[str, Any]:
    """A 200 with the success envelope around `data`."""
    return {
        "description": description,
        "headers": COMMON_HEADERS,
        "content": {
            "application/json": {
                "schema": {
                    "allOf": [
                        ref("SuccessEnvelope"),
                        {"type": "object", "properties": {"data": ref(data)}},
                    ]
                }
            }
        },
    }


def errors(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in statuses:
        codes = sorted(code for code, s in ERROR_CODES.items() if s == status)
        headers = dict(COMMON_HEADERS)
        if status == 429:
            headers["Retry-After"] = {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "integer"},
            }
        elif status == 503:
            headers["Retry-After"] = {
                "description": "Seconds to wait before trying again: SERVER_BUSY, DATABASE_BUSY, "
                "and DATABASE_ERROR when known (the database restarting, a lost connection).",
                "schema": {"type": "integer"},
            }
        out[str(status)] = {
            "description": "Error: " + ", ".join(codes),
            "headers": headers,
            "content": {"application/json": {"schema": ref("ErrorEnvelope")}},
        }
    return out


ADMIN_NOTE = (
    "Admin route. The REST door binds 127.0.0.1 unless `TIMEBASE_HOST` says otherwise; only "
    "folders inside the configured provider directories, or add-ons of a Git repository "
    "(https, http, ssh, git or file URL), can be installed, never an arbitrary path. A body must be `application/json` (415 UNSUPPORTED_MEDIA_TYPE), and a "
    "browser's `Origin` must be the server's own or one of `rest.cors_origins` "
    "(403 ORIGIN_NOT_ALLOWED)."
)


COMMON_HEADERS: dict[str, Any] = {
    "X-Request-ID": {
        "description": "The request id (the client's, or a new one); in every log line.",
        "schema": {"type": "string"},
    },
}
RATE_HEADERS: dict[str, Any] = {
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

#: `start` and `end`: an ISO 8601 date or datetime (RFC 3339's `full-date` or `date-time`; the
#: server also takes the other ISO 8601 forms Python reads, such as `2024-01-02T14:30`).
TIME_SCHEMA: dict[str, Any] = {
    "type": "string",
    "anyOf": [{"format": "date"}, {"format": "date-time"}],
}

PARAMETERS: dict[str, Any] = {
    "RequestId": {
        "name": "X-Request-ID",
        "in": "header",
        "required": False,
        "description": "Correlation id for this request, used when it is 1-128 printable ASCII "
        "characters; otherwise (or when absent) a new one is generated. Always echoed in the "
        "response.",
        "schema": {"type": "string"},
    },
    "Symbol": {
        "name": "symbol",
        "in": "path",
        "required": True,
        "description": "Ticker (case-insensitive): letters, digits and . - ^ = : _ "
        "(e.g. AAPL, BRK.B, ^GSPC, EURUSD=X, BTC-USD, SYN:ACME).",
        "schema": {"type": "string", "maxLength": 64, "pattern": "^[A-Za-z0-9.\\-^=:_]+$"},
        "examples": {"stock": {"value": "AAPL"}, "synthetic": {"value": "SYN:ACME"}},
    },
    "Slug": {
        "name": "slug",
        "in": "path",
        "required": True,
        "description": "Provider slug (a running add-on, or the name of imported bars).",
        "schema": {"type": "string", "pattern": f"^{SLUG_PATTERN}$"},
        "examples": {"synthetic": {"value": "synthetic"}},
    },
    "StaticName": {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "A file of the web page by name (app.js, app.css, "
        "lightweight-charts.standalone.production.js, VENDORED.md, …).",
        "schema": {"type": "string"},
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
    "EventsInterval": {
        "name": "interval",
        "in": "query",
        "required": False,
        "description": "The interval whose bars record the events (default 1d).",
        "schema": {"type": "string", "enum": list(INTERVALS), "default": "1d"},
    },
    "ProviderOptional": {
        "name": "provider",
        "in": "query",
        "required": False,
        "description": "Only this provider's bars (default: the router chooses, as for bars).",
        "schema": {"type": "string", "pattern": f"^{SLUG_PATTERN}$"},
    },
    "Start": {
        "name": "start",
        "in": "query",
        "required": False,
        "description": "Start of the range, inclusive: ISO 8601 date (00:00 UTC) or datetime "
        "(with an offset, or UTC when it has none). Required unless `limit` is set. Dates from "
        "1900-01-01 to 2200-01-01 are accepted; anything else is a 400 INVALID_TIME_RANGE.",
        "schema": TIME_SCHEMA,
        "examples": {"date": {"value": "2024-01-02"}, "instant": {"value": "2024-01-02T14:30Z"}},
    },
    "EventsStart": {
        "name": "start",
        "in": "query",
        "required": True,
        "description": "Start of the range, inclusive: ISO 8601 date (00:00 UTC) or datetime "
        "(with an offset, or UTC when it has none). Dates from 1900-01-01 to 2200-01-01 are "
        "accepted; anything else is a 400 INVALID_TIME_RANGE.",
        "schema": TIME_SCHEMA,
        "examples": {"date": {"value": "2024-01-02"}, "instant": {"value": "2024-01-02T14:30Z"}},
    },
    "End": {
        "name": "end",
        "in": "query",
        "required": False,
        "description": "End of the range, exclusive — except that a date-only end includes that "
        "whole day (2024-01-05 means up to 2024-01-06T00:00Z). Default: now. Dates from "
        "1900-01-01 to 2200-01-01 are accepted; anything else is a 400 INVALID_TIME_RANGE.",
        "schema": TIME_SCHEMA,
        "examples": {"date": {"value": "2024-01-05"}},
    },
    "Limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Only the N most recent bars of the range; without `start` the range "
        "starts N intervals back from `end` and widens (doubling) only while it holds fewer "
        "than N bars, never before the providers' earliest data. At most the format's bar "
        "limit (JSON and CSV `rest.max_bars_text`, Arrow `rest.max_bars_arrow`).",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_BARS_PER_REQUEST},
    },
    "Refresh": {
        "name": "refresh",
        "in": "query",
        "required": False,
        "description": "Fetch the range from the provider again even if it is stored.",
        "schema": {"type": "boolean", "default": False},
    },
    "Adjust": {
        "name": "adjust",
        "in": "query",
        "required": False,
        "description": "Adjust prices at query time from the stored split and dividend events "
        "(docs/adjustments.md): `none` (the bars as the provider gave them), `splits` (prices "
        "and volume), `all` (splits, and dividends on prices). Only what the provider's prices "
        "do not already include (its manifest's `prices_adjusted_for`) is applied.",
        "schema": {"type": "string", "enum": ["none", "splits", "all"], "default": "none"},
    },
    # The headers of a WebSocket opening handshake (RFC 6455), as `GET /api/stream` needs them.
    "Upgrade": {
        "name": "Upgrade",
        "in": "header",
        "required": True,
        "schema": {"enum": ["websocket"]},
    },
    "Connection": {
        "name": "Connection",
        "in": "header",
        "required": True,
        "schema": {"enum": ["Upgrade"]},
    },
    "WebSocketVersion": {
        "name": "Sec-WebSocket-Version",
        "in": "header",
        "required": True,
        "schema": {"enum": ["13"]},
    },
    "WebSocketKey": {
        "name": "Sec-WebSocket-Key",
        "in": "header",
        "required": True,
        "description": "16 random bytes, base64-encoded.",
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9+/]{22}==$"},
    },
    "Format": {
        "name": "format",
        "in": "query",
        "required": False,
        "description": "Response format; overrides the Accept header (json, csv, arrow).",
        "schema": {"type": "string", "enum": [f.value for f in Format]},
    },
}


def _audit_filter(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


#: The query parameters of `GET /api/audit` (components named `Audit<Name>`).
AUDIT_PARAMETERS: dict[str, Any] = {
    "AuditLimit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Rows per page (default 100).",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    },
    "AuditCursor": _audit_filter("cursor", "The `nextCursor` of the previous page."),
    "AuditAction": _audit_filter(
        "action",
        "Only this action.",
        enum=[
            "ingest",
            "invalidate",
            "refresh",
            "install_provider",
            "remove_provider",
            "key_create",
            "key_revoke",
            "refresh_symbols",
            "update_provider",
            "enable_provider",
            "disable_provider",
            "refresh_provider",
        ],
    ),
    "AuditKey": _audit_filter("key", "Only actions by the key of this name."),
    "AuditDoor": _audit_filter(
        "door", "Only actions through this door (grpc, flight, rest, websocket, cli)."
    ),
    "AuditSymbol": _audit_filter(
        "symbol", "Only actions on this symbol (one of a batch's symbols too)."
    ),
    "AuditProvider": _audit_filter("provider", "Only actions on this provider or data set."),
    "AuditOutcome": _audit_filter("outcome", "`ok`, or an error code such as PERMISSION_DENIED."),
    "AuditSince": _audit_filter(
        "since", "Rows at or after this instant (ISO 8601; a date means its midnight UTC)."
    ),
    "AuditUntil": _audit_filter(
        "until", "Rows before this instant (a date means the end of that day)."
    ),
}


def bar_operation(summary: str, description: str, params: list[str]) -> dict[str, Any]:
    return {
        "summary": summary,
        "description": description
        + "\n\nContent negotiation: `Accept: application/json` (default), `text/csv` or "
        "`application/vnd.apache.arrow.stream` (or `?format=`); gzip or deflate with "
        "`Accept-Encoding`. JSON and CSV hold at most 100,000 bars (`rest.max_bars_text`), "
        "Arrow 5,000,000 (`rest.max_bars_arrow`): the size is estimated from range × interval "
        "before anything is fetched, and a request over the limit is a 400 naming the limit, "
        "the estimate and how to narrow it. Provider fetches are bounded overall and per "
        "client; a request that waits too long for one is a 503 SERVER_BUSY with Retry-After. "
        f"For CSV and Arrow the warnings are in the `{WARNINGS_HEADER}` header. The trading "
        "calendar that applied (docs/calendars.md) is `meta.calendar` (JSON) or the "
        f"`{CALENDAR_HEADER}` header (CSV, Arrow); absent: continuous time.",
        "tags": ["bars"],
        "parameters": [{"$ref": "#/components/parameters/" + p} for p in params],
        "responses": {
            "200": {
                "description": "The bars, ascending by timestamp, one per timestamp.",
                "headers": {
                    **COMMON_HEADERS,
                    **RATE_HEADERS,
                    WARNINGS_HEADER: {
                        "description": "CSV and Arrow responses: the warnings as a JSON list.",
                        "schema": {"type": "string"},
                    },
                    CALENDAR_HEADER: {
                        "description": "CSV and Arrow responses: the trading calendar that "
                        "applied (e.g. XNYS, 24/7); absent when none did.",
                        "schema": {"type": "string"},
                    },
                },
                "content": {
                    MEDIA_TYPES[Format.JSON]: {
                        "schema": {
                            "allOf": [
                                ref("SuccessEnvelope"),
                                {"type": "object", "properties": {"data": ref("BarsData")}},
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
            **errors(400, 404, 429, 500, 503),
        },
    }
