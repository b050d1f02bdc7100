"""Reading a historical answer back from the store: each timestamp from the provider of its
segment of the read plan (a numpy mask; large answers masked on a worker thread). A plan of one
provider's segments covering the whole range without a hole (the usual cached answer) needs no
mask: the store read of that provider's rows of the range is the answer."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

from timebase.gateway.bar_columns import timestamp_micros
from timebase.gateway.bar_request import BarRequest
from timebase.gateway.coverage_plan import Segment
from timebase.store import BAR_SCHEMA, Store

_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
#: Answers up to this many rows are masked to their segments on the event loop.
_INLINE_MASK_ROWS = 20_000


async def read_segments(store: Store, request: BarRequest, segments: list[Segment]) -> pa.Table:
    """Stored bars of [start, end), each timestamp from the provider of its segment."""
    if not segments:
        return BAR_SCHEMA.empty_table()
    slugs = {s.provider for s in segments}
    only = next(iter(slugs)) if len(slugs) == 1 else None
    table = await store.read_table(
        request.symbol, request.interval, request.start, request.end, provider=only
    )
    if table.num_rows == 0 or (only is not None and _spans(segments, request)):
        return table  # one provider's rows of [start, end), every one inside a segment
    if table.num_rows <= _INLINE_MASK_ROWS:  # microseconds of numpy: not worth a thread hop
        return mask_segments(table, segments)
    return await asyncio.to_thread(mask_segments, table, segments)


def _spans(segments: list[Segment], request: BarRequest) -> bool:
    """Whether `segments` (ascending) cover [request.start, request.end) without a hole."""
    if segments[0].start > request.start or segments[-1].end < request.end:
        return False
    return all(a.end >= b.start for a, b in itertools.pairwise(segments))


def mask_segments(table: pa.Table, segments: list[Segment]) -> pa.Table:
    ts = timestamp_micros(table.column("timestamp"))
    starts = np.array([_us(s.start) for s in segments], dtype=np.int64)
    ends = np.array([_us(s.end) for s in segments], dtype=np.int64)
    names = np.array([s.provider for s in segments], dtype=object)
    index = np.searchsorted(starts, ts, side="right") - 1
    inside = index >= 0
    safe = np.where(inside, index, 0)
    inside &= ts < ends[safe]
    providers = table.column("provider").to_numpy(zero_copy_only=False)
    keep = inside & (providers == names[safe])
    return table.filter(pa.array(keep))


def _us(ts: datetime) -> int:
    delta = ts - _EARLIEST
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
