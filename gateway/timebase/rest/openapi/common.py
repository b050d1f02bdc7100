"""Shared parts of the OpenAPI document: references, the success and error responses, the
headers and parameters every route uses, and the shape of a bar route."""

from __future__ import annotations

from typing import Any

from timebase.gateway.bar_request import MAX_BARS_PER_REQUEST
from timebase.rest.encoders import MEDIA_TYPES, WARNINGS_HEADER, Format
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
        out[str(status)] = {
            "description": "Error: " + ", ".join(codes),
            "headers": headers,
            "content": {"application/json": {"schema": ref("ErrorEnvelope")}},
        }
    return out


ADMIN_NOTE = (
    "Admin route. The REST door binds 127.0.0.1 unless `TIMEBASE_HOST` says otherwise; only "
    "folders inside the configured provider directories can be installed, never an arbitrary "
    "path or URL."
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
        "schema": TIME_SCHEMA,
        "examples": {"date": {"value": "2024-01-02"}, "instant": {"value": "2024-01-02T14:30Z"}},
    },
    "End": {
        "name": "end",
        "in": "query",
        "required": False,
        "description": "End of the range, exclusive — except that a date-only end includes that "
        "whole day (2024-01-05 means up to 2024-01-06T00:00Z). Default: now.",
        "schema": TIME_SCHEMA,
        "examples": {"date": {"value": "2024-01-05"}},
    },
    "Limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Only the N most recent bars of the range; without `start` the range "
        "reaches back as far as needed.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_BARS_PER_REQUEST},
    },
    "Refresh": {
        "name": "refresh",
        "in": "query",
        "required": False,
        "description": "Fetch the range from the provider again even if it is stored.",
        "schema": {"type": "boolean", "default": False},
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


def bar_operation(summary: str, description: str, params: list[str]) -> dict[str, Any]:
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
                    **COMMON_HEADERS,
                    **RATE_HEADERS,
                    WARNINGS_HEADER: {
                        "description": "CSV and Arrow responses: the warnings as a JSON list.",
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
