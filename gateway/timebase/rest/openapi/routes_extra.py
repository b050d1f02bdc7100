"""The OpenAPI paths and schemas of the summary and probe routes (`timebase.rest.routes.summary`,
`timebase.rest.routes.probes`), merged into the document by `build_spec`."""

from __future__ import annotations

from typing import Any

from timebase.rest.openapi.common import errors, ok, ref
from timebase.sdk.intervals import INTERVALS

_TIME = {"type": ["string", "null"], "format": "date-time"}
_ORIGINAL_WORDS = ["Healthy", "Degraded", "Unhealthy"]
_PROBE_NOTE = (
    " Not rate limited; reveals only up or down (no error text, no provider names), so it "
    "stays open without an API key."
)


def _original(status_doc: str) -> dict[str, Any]:
    return {
        "description": status_doc,
        "content": {"application/json": {"schema": ref("OriginalHealth")}},
    }


def paths() -> dict[str, Any]:
    return {
        "/api/data/{symbol}/summary": {
            "get": {
                "operationId": "getSymbolSummary",
                "summary": "What is stored for a symbol, per interval and provider",
                "description": "Each stored series: its bar count, first and last bar start, "
                "and the ranges fetched from its provider (`covered`, half-open "
                "[start, end)). A range fetched that held no bars still shows (count 0); "
                "imported bars have no `covered` ranges. Nothing stored: 200 with no series. "
                "Read from the store only: no provider is asked.",
                "tags": ["bars"],
                "parameters": [
                    {"$ref": "#/components/parameters/RequestId"},
                    {"$ref": "#/components/parameters/Symbol"},
                ],
                "responses": {
                    "200": ok("SymbolSummary", "The stored series, shortest interval first."),
                    **errors(400, 429, 500, 503),
                },
            }
        },
        "/api/health/live": {
            "get": {
                "operationId": "getLiveness",
                "summary": "Liveness: the process serves (always 200 while it answers)",
                "description": "For orchestrators' liveness probes." + _PROBE_NOTE,
                "tags": ["service"],
                "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                "responses": {"200": ok("Liveness", "Alive."), **errors(400)},
            }
        },
        "/api/health/ready": {
            "get": {
                "operationId": "getReadiness",
                "summary": "Readiness: the database answers and a provider is ready",
                "description": "200 when the database answers and at least one provider is "
                "ready; 503 DATABASE_ERROR when the database does not answer, 503 "
                "PROVIDER_UNAVAILABLE when no provider is ready." + _PROBE_NOTE,
                "tags": ["service"],
                "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                "responses": {"200": ok("Readiness", "Ready."), **errors(400, 503)},
            }
        },
        "/health": {
            "get": {
                "operationId": "getOriginalHealth",
                "summary": "The original TimeBase's health (status Healthy, Degraded, Unhealthy)",
                "description": "Alias for clients of the original TimeBase: `/api/health`'s "
                "status as Healthy (200), Degraded (200: some providers down, or none "
                "running) or Unhealthy (503: the database does not answer). Not enveloped."
                + _PROBE_NOTE,
                "tags": ["service"],
                "responses": {
                    "200": _original("Healthy or Degraded."),
                    "503": _original("Unhealthy."),
                    **errors(400),
                },
            }
        },
        "/health/live": {
            "get": {
                "operationId": "getOriginalLiveness",
                "summary": "The original TimeBase's liveness: status `Healthy`",
                "description": "Alias of `/api/health/live` for clients of the original "
                'TimeBase: `{"status":"Healthy"}` as the original documents it; a client whose '
                "`Accept` names text/plain and neither JSON nor */* gets the plain text "
                "`Healthy` (what the original's ASP.NET health check writes)." + _PROBE_NOTE,
                "tags": ["service"],
                "responses": {
                    "200": {
                        "description": "Alive.",
                        "content": {
                            "application/json": {"schema": ref("OriginalLiveness")},
                            "text/plain": {"schema": {"const": "Healthy"}},
                        },
                    },
                    **errors(400),
                },
            }
        },
        "/health/ready": {
            "get": {
                "operationId": "getOriginalReadiness",
                "summary": "The original TimeBase's readiness (status Healthy, Degraded, "
                "Unhealthy)",
                "description": "Alias of `/api/health/ready` for clients of the original "
                "TimeBase: Unhealthy (503) when not ready, Degraded (200) when ready but some "
                "providers are down, Healthy (200) otherwise. Not enveloped." + _PROBE_NOTE,
                "tags": ["service"],
                "responses": {
                    "200": _original("Healthy or Degraded."),
                    "503": _original("Unhealthy."),
                    **errors(400),
                },
            }
        },
    }


def schemas() -> dict[str, Any]:
    covered = {
        "type": "object",
        "required": ["start", "end"],
        "properties": {
            "start": {"type": "string", "format": "date-time"},
            "end": {"type": "string", "format": "date-time"},
        },
        "additionalProperties": False,
    }
    series = {
        "type": "object",
        "required": [
            "interval",
            "provider",
            "count",
            "earliest",
            "latest",
            "covered",
            "gaps",
            "closed",
        ],
        "properties": {
            "interval": {"type": "string", "enum": list(INTERVALS)},
            "provider": {"type": "string"},
            "count": {"type": "integer", "minimum": 0},
            "earliest": {**_TIME, "description": "First bar start (null: no bar stored)."},
            "latest": {**_TIME, "description": "Last bar start (null: no bar stored)."},
            "covered": {
                "type": "array",
                "items": covered,
                "description": "Ranges fetched from the provider, in order, never touching.",
            },
            "calendar": {
                "type": "string",
                "description": "The trading calendar of the series (docs/calendars.md); "
                "absent: continuous time.",
            },
            "gaps": {
                "type": "array",
                "items": covered,
                "description": "True gaps: the parts between covered ranges where the market "
                "was open (every part, without a calendar).",
            },
            "closed": {
                "type": "array",
                "items": covered,
                "description": "The parts between covered ranges where the market was closed "
                "(weekends, holidays, nights): no bars are missing there.",
            },
            "gapsTruncated": {
                "type": "boolean",
                "enum": [True],
                "description": "Present (true) when more gaps follow than `gaps` lists (at "
                "most 20, the first ones).",
            },
            "closedTruncated": {
                "type": "boolean",
                "enum": [True],
                "description": "Present (true) when more closed ranges follow than `closed` "
                "lists (at most 20, the first ones).",
            },
        },
        "additionalProperties": False,
    }
    return {
        "SymbolSummary": {
            "type": "object",
            "required": [
                "symbol",
                "totalBars",
                "earliest",
                "latest",
                "providers",
                "intervals",
                "series",
            ],
            "properties": {
                "symbol": {"type": "string"},
                "totalBars": {"type": "integer", "minimum": 0},
                "earliest": _TIME,
                "latest": _TIME,
                "providers": {"type": "array", "items": {"type": "string"}},
                "intervals": {"type": "array", "items": {"type": "string"}},
                "series": {"type": "array", "items": series},
            },
            "additionalProperties": False,
        },
        "Liveness": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"const": "live"}},
            "additionalProperties": False,
        },
        "Readiness": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"const": "ready"}},
            "additionalProperties": False,
        },
        "OriginalHealth": {
            "type": "object",
            "required": ["status", "checks", "totalDuration"],
            "properties": {
                "status": {"type": "string", "enum": _ORIGINAL_WORDS},
                "checks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "status", "description", "duration"],
                        "properties": {
                            "name": {"type": "string", "enum": ["database", "providers"]},
                            "status": {"type": "string", "enum": _ORIGINAL_WORDS},
                            "description": {
                                "type": ["string", "null"],
                                "description": "What was found, without detail (no error "
                                "text, no provider names).",
                            },
                            "duration": {"type": "number", "description": "Milliseconds."},
                        },
                        "additionalProperties": False,
                    },
                },
                "totalDuration": {"type": "number", "description": "Milliseconds."},
            },
            "additionalProperties": False,
        },
        "OriginalLiveness": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"const": "Healthy"}},
            "additionalProperties": False,
        },
    }
