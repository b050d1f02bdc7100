"""Pure planning for a symbol-centric read: which stored ranges come from which provider, what is
missing, and how a missing range is split into provider requests.

Sticky rule: where several providers have fetched the same range, the provider that has fetched
the most of the requested range serves it (ties: the router's order), so the same query answers
the same rows cold and warm. The others' bars stay reachable with a provider-aware query.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from timebase.gateway.adjustments import Adjust
from timebase.gateway.derived_intervals import bucket_start
from timebase.sdk.intervals import Interval
from timebase.sdk.manifest import Manifest
from timebase.store import TimeRange


@dataclass(frozen=True, order=True)
class Segment:
    """[start, end) served from `provider`."""

    start: datetime
    end: datetime
    provider: str


@dataclass(frozen=True)
class ReadPlan:
    """How the bars of `symbol` at `interval` in [start, end) are read from the store: each
    segment's [start, end) from that provider's stored bars, in order. With `derived_from`, the
    segments are bars of that finer interval, aggregated into `interval` (`derived_intervals`).
    """

    symbol: str
    interval: Interval
    start: datetime
    end: datetime
    segments: tuple[Segment, ...] = ()
    derived_from: Interval | None = None
    #: What the read bars are adjusted for (`timebase.gateway.adjustments`), once read whole.
    adjust: Adjust = Adjust.NONE
    #: The trading calendar whose sessions a derived plan's buckets follow (None: UTC grid).
    calendar: str | None = None

    @classmethod
    def clipped(
        cls,
        symbol: str,
        interval: Interval,
        start: datetime,
        end: datetime,
        segments: Sequence[Segment],
    ) -> ReadPlan:
        """A plan of `segments` cut to [start, end) (empty pieces dropped)."""
        kept = []
        for seg in segments:
            lo, hi = max(seg.start, start), min(seg.end, end)
            if lo < hi:
                kept.append(Segment(lo, hi, seg.provider))
        return cls(symbol, interval, start, end, tuple(kept))


def _total(ranges: Sequence[TimeRange]) -> timedelta:
    return sum((r.end - r.start for r in ranges), timedelta())


def assign(
    start: datetime,
    end: datetime,
    covered: Mapping[str, Sequence[TimeRange]],
    order: Sequence[str],
) -> tuple[list[Segment], list[TimeRange]]:
    """Split [start, end) into segments served from stored coverage, and the gaps left."""
    rank = {slug: i for i, slug in enumerate(order)}
    sticky = sorted(
        (slug for slug, ranges in covered.items() if ranges),
        key=lambda s: (-_total(covered[s]), rank.get(s, len(rank)), s),
    )
    segments: list[Segment] = []
    free = [TimeRange(start, end)]
    for slug in sticky:
        for piece in covered[slug]:
            remaining: list[TimeRange] = []
            for hole in free:
                lo, hi = max(hole.start, piece.start), min(hole.end, piece.end)
                if lo >= hi:
                    remaining.append(hole)
                    continue
                segments.append(Segment(lo, hi, slug))
                if hole.start < lo:
                    remaining.append(TimeRange(hole.start, lo))
                if hi < hole.end:
                    remaining.append(TimeRange(hi, hole.end))
            free = sorted(remaining)
    return sorted(segments), free


def merge(segments: Sequence[Segment]) -> list[Segment]:
    """Sorted segments with touching ones of the same provider joined."""
    out: list[Segment] = []
    for seg in sorted(segments):
        if out and out[-1].provider == seg.provider and out[-1].end >= seg.start:
            last = out[-1]
            out[-1] = Segment(last.start, max(last.end, seg.end), last.provider)
        else:
            out.append(seg)
    return out


def windows(
    start: datetime, end: datetime, interval: Interval, manifest: Manifest, now: datetime
) -> tuple[list[TimeRange], TimeRange | None]:
    """[start, end) as provider requests within its earliest data, lookback and per-request
    limits.

    Returns the windows and the part older than the provider's lookback (None when none). The
    part before the provider's earliest data (`Manifest.earliest_data`) is neither asked for
    nor returned: no data exists there, and it is not recorded as fetched (a manifest that
    later declares earlier data gets asked for it).
    """
    too_old: TimeRange | None = None
    earliest_data = manifest.earliest_data(interval.value)
    if end <= earliest_data:
        return [], None
    start = max(start, earliest_data)
    lookback = manifest.lookback_days(interval.value)
    if lookback:
        earliest = now - timedelta(days=lookback)
        if end <= earliest:
            return [], TimeRange(start, end)
        if start < earliest:
            too_old, start = TimeRange(start, earliest), earliest
    days = manifest.days_per_request(interval.value)
    if not days:
        return [TimeRange(start, end)], too_old
    step = timedelta(days=days)
    out: list[TimeRange] = []
    cursor = start
    while cursor < end:
        stop = min(end, cursor + step)
        out.append(TimeRange(cursor, stop))
        cursor = stop
    return out, too_old


def lookback_error(interval: str, manifest: Manifest, now: datetime) -> str:
    """Why a provider is left out of a range older than its lookback window (its window)."""
    days = manifest.lookback_days(interval) or 0  # set: only called for a range too old
    since = (now - timedelta(days=days)).date().isoformat()
    return f"serves {interval} bars only for the last {days} days (from {since})"


def settled_end(interval: Interval, now: datetime) -> datetime:
    """Bars starting before this are complete; the bar in progress starts at or after it.

    Coverage is recorded only up to here, so the bar in progress is fetched again next time.
    """
    return bucket_start(now, interval)


#: How long the newest stored bars are trusted before the open end is fetched again.
FRESHNESS_TTL: dict[Interval, timedelta] = {
    Interval.M1: timedelta(seconds=30),
    Interval.M5: timedelta(minutes=1),
    Interval.M15: timedelta(minutes=2),
    Interval.M30: timedelta(minutes=5),
    Interval.H1: timedelta(minutes=5),
    Interval.H4: timedelta(minutes=15),
    Interval.D1: timedelta(hours=1),
    Interval.W1: timedelta(hours=6),
    Interval.MO1: timedelta(hours=12),
}


def open_end(interval: Interval, now: datetime) -> datetime:
    """Start of the 'open end' near now: bars from here on may still be revised."""
    return now - 2 * interval.nominal
