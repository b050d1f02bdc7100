"""Watchlists and symbol summaries as `timebase.v1` messages (ListWatchlists, GetSummary)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from timebase.gateway.query.summary import SeriesGaps, SymbolSummary
from timebase.gateway.watchlists import WatchlistState
from timebase.store import TimeRange
from timebase.v1 import bars_pb2 as v1


def _stamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def watchlist(state: WatchlistState) -> v1.WatchlistStatus:
    w = state.watchlist
    return v1.WatchlistStatus(
        name=w.name,
        symbols=list(w.symbols),
        intervals=[i.value for i in w.intervals],
        lookback_days=w.lookback_days,
        schedule=w.schedule.text,
        provider=w.provider or "",
        running=state.running,
        items_total=state.items_total,
        items_done=state.items_done,
        runs=state.runs,
        last_result=state.last_result,
        last_start=_stamp(state.last_start),
        last_end=_stamp(state.last_end),
        next_run=_stamp(state.next_run),
        quota_skips=state.skips["quota"],
        error_skips=state.skips["error"],
        items=[
            v1.WatchlistItem(
                symbol=item.symbol,
                interval=item.interval.value,
                status=item.status,
                message=item.message,
                last_run=_stamp(item.last_run),
                latest_bar=_stamp(item.latest_bar),
            )
            for item in state.items
        ],
    )


def summary(answer: SymbolSummary) -> v1.GetSummaryResponse:
    return v1.GetSummaryResponse(
        symbol=answer.symbol,
        total_bars=answer.total_bars,
        earliest=_stamp(answer.earliest),
        latest=_stamp(answer.latest),
        providers=list(answer.providers),
        intervals=list(answer.intervals),
        series=[
            v1.StoredSeries(
                interval=s.interval,
                provider=s.provider,
                count=s.count,
                earliest=_stamp(s.earliest),
                latest=_stamp(s.latest),
                covered=_ranges(s.covered),
                **_gaps(answer.gaps.get((s.interval, s.provider))),
            )
            for s in answer.series
        ],
    )


def _ranges(ranges: Iterable[TimeRange]) -> list[v1.CoveredRange]:
    return [v1.CoveredRange(start=_stamp(r.start), end=_stamp(r.end)) for r in ranges]


def _gaps(gaps: SeriesGaps | None) -> dict[str, Any]:
    """The series' calendar, gaps (open time between covered ranges) and closed time."""
    if gaps is None:
        return {}
    return {
        "calendar": gaps.calendar or "",
        "gaps": _ranges(gaps.gaps),
        "closed": _ranges(gaps.closed),
        "gaps_truncated": gaps.gaps_truncated,
        "closed_truncated": gaps.closed_truncated,
    }
