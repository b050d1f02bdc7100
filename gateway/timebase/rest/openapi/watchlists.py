"""The OpenAPI path and schemas of `GET /api/watchlists` (`timebase.rest.routes.watchlists`),
merged into the document by `build_spec`."""

from __future__ import annotations

from typing import Any

from timebase.rest.openapi.common import errors, ok, ref
from timebase.sdk.intervals import INTERVALS

_TIME = {"type": ["string", "null"], "format": "date-time"}
_ITEM_STATUSES = ["pending", "ok", "partial", "skipped", "failed"]


def watchlist_paths() -> dict[str, Any]:
    return {
        "/api/watchlists": {
            "get": {
                "operationId": "listWatchlists",
                "summary": "Watchlists: progress and last run of each",
                "description": "Every watchlist of the configuration (`watchlists:`), in order: "
                "what it keeps fresh, its schedule, the progress of the running (or last) run, "
                "when it runs next, and each symbol × interval item's last status. Items "
                "skipped because their providers had no quota left say so in `message` "
                "(status `skipped`) and count in `skips.quota`. No watchlists: an empty list.",
                "tags": ["service"],
                "parameters": [{"$ref": "#/components/parameters/RequestId"}],
                "responses": {
                    "200": ok("WatchlistList", "The configured watchlists."),
                    **errors(400, 429),
                },
            }
        }
    }


def watchlist_schemas() -> dict[str, Any]:
    item = {
        "type": "object",
        "required": ["symbol", "interval", "status", "message", "lastRun", "latestBar"],
        "properties": {
            "symbol": {"type": "string"},
            "interval": {"type": "string", "enum": list(INTERVALS)},
            "status": {
                "type": "string",
                "enum": _ITEM_STATUSES,
                "description": "pending: not run yet; ok; partial: some of the range (quota "
                "ran out or a provider failed mid-way); skipped: no quota left, nothing asked; "
                "failed.",
            },
            "message": {"type": "string", "description": "Why, when not ok (else empty)."},
            "lastRun": _TIME,
            "latestBar": {**_TIME, "description": "Start of the newest stored bar."},
        },
        "additionalProperties": False,
    }
    watchlist = {
        "type": "object",
        "required": [
            "name",
            "symbols",
            "intervals",
            "lookbackDays",
            "schedule",
            "provider",
            "running",
            "itemsTotal",
            "itemsDone",
            "runs",
            "lastResult",
            "lastStart",
            "lastEnd",
            "nextRun",
            "skips",
            "items",
        ],
        "properties": {
            "name": {"type": "string"},
            "symbols": {"type": "array", "items": {"type": "string"}},
            "intervals": {"type": "array", "items": {"type": "string", "enum": list(INTERVALS)}},
            "lookbackDays": {"type": "integer", "minimum": 1},
            "schedule": {"type": "string", "description": "`every Ns` or a cron expression."},
            "provider": {"type": ["string", "null"]},
            "running": {"type": "boolean"},
            "itemsTotal": {"type": "integer", "minimum": 0},
            "itemsDone": {"type": "integer", "minimum": 0},
            "runs": {"type": "integer", "minimum": 0, "description": "Completed runs."},
            "lastResult": {"type": ["string", "null"], "enum": ["ok", "partial", "failed", None]},
            "lastStart": _TIME,
            "lastEnd": _TIME,
            "nextRun": _TIME,
            "skips": {
                "type": "object",
                "required": ["quota", "error"],
                "properties": {
                    "quota": {"type": "integer", "minimum": 0},
                    "error": {"type": "integer", "minimum": 0},
                },
                "additionalProperties": False,
            },
            "items": {"type": "array", "items": item},
        },
        "additionalProperties": False,
    }
    return {
        "Watchlist": watchlist,
        "WatchlistList": {
            "type": "object",
            "required": ["watchlists"],
            "properties": {"watchlists": {"type": "array", "items": ref("Watchlist")}},
            "additionalProperties": False,
        },
    }
