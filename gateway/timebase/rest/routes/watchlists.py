"""`GET /api/watchlists`: each configured watchlist's progress and last run
(`timebase.gateway.watchlists`; the same state as `timebase watchlists status` and /metrics)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from timebase.gateway.watchlists import WatchlistState
from timebase.rest.keys import API
from timebase.rest.params import only
from timebase.rest.responses import ok

routes = web.RouteTableDef()


@routes.get("/api/watchlists", allow_head=False)
async def watchlists(request: web.Request) -> web.Response:
    only(request.query, frozenset())
    states = request.app[API].watchlist_states()
    return ok(request, {"watchlists": [render(s) for s in states]})


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def render(state: WatchlistState) -> dict[str, Any]:
    """One watchlist as JSON (camelCase; times ISO 8601 UTC)."""
    watchlist = state.watchlist
    return {
        "name": watchlist.name,
        "symbols": list(watchlist.symbols),
        "intervals": [i.value for i in watchlist.intervals],
        "lookbackDays": watchlist.lookback_days,
        "schedule": watchlist.schedule.text,
        "provider": watchlist.provider,
        "running": state.running,
        "itemsTotal": state.items_total,
        "itemsDone": state.items_done,
        "runs": state.runs,
        "lastResult": state.last_result or None,
        "lastStart": _time(state.last_start),
        "lastEnd": _time(state.last_end),
        "nextRun": _time(state.next_run),
        "skips": {reason: state.skips[reason] for reason in ("quota", "error")},
        "items": [
            {
                "symbol": item.symbol,
                "interval": item.interval.value,
                "status": item.status,
                "message": item.message,
                "lastRun": _time(item.last_run),
                "latestBar": _time(item.latest_bar),
            }
            for item in state.items
        ],
    }
