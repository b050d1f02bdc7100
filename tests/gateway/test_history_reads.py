"""Reading an answer back from the store: each row from the provider of its plan segment."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.flight.test_hot_tier import END, START
from timebase.gateway.bar_request import build_request
from timebase.gateway.coverage_plan import Segment
from timebase.gateway.history_reads import read_segments
from timebase.v1 import bars_pb2 as v1

from .support import DAY, RecordingProvider, running_gateway

pytestmark = pytest.mark.asyncio


def _days(table_timestamps: list[datetime]) -> list[int]:
    return [(ts - START) // DAY for ts in table_timestamps]


async def test_rows_outside_the_segments_or_of_another_provider_are_left_out(
    database_url: str,
) -> None:
    async with running_gateway(database_url, RecordingProvider("alpha")) as gw:
        msg = v1.GetBarsRequest(symbol="ACME", interval="1d")
        msg.start_time.FromDatetime(START)
        msg.end_time.FromDatetime(END)
        assert sum([len(c.timestamps_us) async for c in gw.v1.GetBars(msg)]) == 10  # stored
        request = build_request(symbol="ACME", interval="1d", start=START, end=END)

        async def days(*segments: Segment) -> list[int]:
            table = await read_segments(gw.store, request, list(segments))
            assert set(table.column("provider").to_pylist()) <= {"alpha"}
            return _days(table.column("timestamp").to_pylist())

        whole = Segment(START, END, "alpha")
        assert await days(whole) == list(range(10))  # one segment spanning the range
        two = (Segment(START, START + 4 * DAY, "alpha"), Segment(START + 4 * DAY, END, "alpha"))
        assert await days(*two) == list(range(10))  # touching: no hole
        holed = (Segment(START, START + 3 * DAY, "alpha"), Segment(START + 5 * DAY, END, "alpha"))
        assert await days(*holed) == [0, 1, 2, 5, 6, 7, 8, 9]
        short = Segment(START + 2 * DAY, END - DAY, "alpha")
        assert await days(short) == list(range(2, 9))
        mixed = (Segment(START, START + 6 * DAY, "alpha"), Segment(START + 6 * DAY, END, "beta"))
        assert await days(*mixed) == list(range(6))  # beta stored nothing here
        assert await days() == []
