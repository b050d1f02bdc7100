"""`GET /api/data/{symbol}/summary`: what is stored for a symbol, per interval and provider."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from timebase.gateway.query.summary import SeriesGaps, SymbolSummary
from timebase.rest.keys import API
from timebase.rest.params import only
from timebase.rest.responses import ok
from timebase.store import TimeRange

routes = web.RouteTableDef()


@routes.get("/api/data/{symbol}/summary", allow_head=False)
async def summary(request: web.Request) -> web.Response:
    only(request.query, frozenset())
    answer = await request.app[API].summary(request.match_info["symbol"])
    return ok(request, render(answer))


def render(answer: SymbolSummary) -> dict[str, Any]:
    """The summary as JSON (camelCase; times ISO 8601 UTC)."""
    return {
        "symbol": answer.symbol,
        "totalBars": answer.total_bars,
        "earliest": answer.earliest,
        "latest": answer.latest,
        "providers": list(answer.providers),
        "intervals": list(answer.intervals),
        "series": [
            {
                "interval": s.interval,
                "provider": s.provider,
                "count": s.count,
                "earliest": s.earliest,
                "latest": s.latest,
                "covered": _ranges(s.covered),
                **_gaps(answer.gaps.get((s.interval, s.provider))),
            }
            for s in answer.series
        ],
    }


def _ranges(ranges: Iterable[TimeRange]) -> list[dict[str, Any]]:
    return [{"start": r.start, "end": r.end} for r in ranges]


def _gaps(gaps: SeriesGaps | None) -> dict[str, Any]:
    """`calendar` (when one applies), `gaps` (open time between covered ranges) and `closed`."""
    if gaps is None:
        return {"gaps": [], "closed": []}
    out: dict[str, Any] = {"gaps": _ranges(gaps.gaps), "closed": _ranges(gaps.closed)}
    if gaps.calendar is not None:
        out["calendar"] = gaps.calendar
    if gaps.gaps_truncated:
        out["gapsTruncated"] = True
    if gaps.closed_truncated:
        out["closedTruncated"] = True
    return out
