"""A cold fetch is answered from the fetched batches while they are stored: the same rows as the
warm read; a store that fails still answers, with STORE_FAILED, and records nothing covered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from adbc_driver_postgresql import dbapi

from timebase.gateway.bar_request import build_request
from timebase.gateway.bar_warnings import WarningCode
from timebase.gateway.cold_answer import fetched_answer, jsonb_text
from timebase.gateway.coverage_plan import Segment
from timebase.store.validation import clean_provider_batch

from .support import RecordingProvider, bar_values, running_gateway

START = datetime(2024, 1, 1, tzinfo=UTC)
END = START + timedelta(days=40)
#: Provider metadata (string values, compact JSON as the SDK sends it) in several shapes.
_METADATA = [
    '{"zeta":"1","a":"é\\n","bb":"\\"q\\" \\\\ \\t \\u0001"}',
    None,
    '{"adj_close":"187.2","split":"2:1"}',
    "{}",
]


class MetaProvider(RecordingProvider):
    """Bars with metadata on most of them."""

    def _batch(self, stamps: list[int]) -> pa.RecordBatch:
        batch = super()._batch(stamps)
        meta = [_METADATA[(ts // 86_400_000_000) % len(_METADATA)] for ts in stamps]
        return batch.append_column("metadata", pa.array(meta, pa.string()))


@pytest.mark.parametrize("provider", ["", "meta"])
async def test_the_cold_answer_equals_the_warm_read(fresh_database_url: str, provider: str):
    meta = MetaProvider("meta", intervals=["1d", "1h"])
    async with running_gateway(fresh_database_url, meta) as gw:
        request = build_request(
            symbol="acme", interval="1d", start=START, end=END, provider=provider
        )
        cold = await gw.history.get(request)
        fetched = gw.history.upstream_requests
        warm = await gw.history.get(request)
        assert gw.history.upstream_requests == fetched  # served from the store
        assert cold.table.num_rows == 40
        assert cold.table.equals(warm.table)
        assert [w.code for w in cold.warnings] == [w.code for w in warm.warnings] == []
        # Partly cold: 20 more days fetched, 40 read back; still what a warm read returns.
        wider = build_request(
            symbol="acme", interval="1d", start=START, end=END + timedelta(days=20),
            provider=provider,
        )  # fmt: skip
        partly = await gw.history.get(wider)
        again = await gw.history.get(wider)
        assert partly.table.num_rows == 60
        assert partly.table.equals(again.table)


async def test_a_store_that_fails_still_answers_and_records_nothing(fresh_database_url: str):
    meta = MetaProvider("meta", intervals=["1d"])
    async with running_gateway(fresh_database_url, meta) as gw:
        await asyncio.to_thread(_refuse_daily_bars, gw.store.url, True)
        request = build_request(symbol="acme", interval="1d", start=START, end=END)
        answer = await gw.history.get(request)
        assert answer.table.num_rows == 40
        (warning,) = answer.warnings
        assert warning.code is WarningCode.STORE_FAILED
        assert warning.message.startswith(
            "the bars fetched for ACME 1d could not be stored (writing fetched bars: "
        )
        assert warning.message.endswith(
            "they are in this answer and will be fetched again next time"
        )
        assert "no daily bars today" in warning.message
        assert await gw.store.covered("ACME", "1d", "meta", START, END) == []
        assert await gw.store.datasets() == []

        await asyncio.to_thread(_refuse_daily_bars, gw.store.url, False)
        fetched = gw.history.upstream_requests
        stored = await gw.history.get(request)
        assert gw.history.upstream_requests > fetched  # nothing was covered: fetched again
        assert stored.warnings == []
        assert stored.table.equals(answer.table)  # the failed answer held exactly these rows


class ChunkedProvider(RecordingProvider):
    """The days [0, 25) then [20, 40) (five days sent twice, the second time with another
    close) with day 30's bar invalid (high below low): in one batch, or in two. (The SDK skips
    the repeats and the invalid bar, and reports them.)"""

    def __init__(self, slug: str, *, split: bool) -> None:
        super().__init__(slug, intervals=["1d"])
        self.split = split

    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[pa.RecordBatch]:
        self.requests.append((symbol, interval, start, end))
        day = 86_400_000_000
        first = int(START.timestamp()) * 1_000_000
        head = self._batch([first + d * day for d in range(25)])
        tail = self._batch([first + d * day for d in range(20, 40)])
        tail = tail.set_column(4, "close", pc.add(tail.column("close"), 0.5))
        high = tail.column("high").to_pylist()
        high[10] = 0.5  # day 30
        tail = tail.set_column(2, "high", pa.array(high, pa.float64()))
        if self.split:
            yield head
            yield tail
        else:
            yield pa.Table.from_batches([head, tail]).combine_chunks().to_batches()[0]


async def test_one_batch_or_several_store_and_answer_the_same(fresh_database_url: str):
    """A window sent as one batch is cleaned while its call ends; sent as several, cleaned
    together at the end: the same rows stored and answered, the same skipped bars reported."""
    one, two = ChunkedProvider("one", split=False), ChunkedProvider("two", split=True)
    async with running_gateway(fresh_database_url, one, two) as gw:
        answers = {}
        for slug in ("one", "two"):
            request = build_request(
                symbol="acme", interval="1d", start=START, end=END, provider=slug
            )
            cold = await gw.history.get(request)
            warm = await gw.history.get(request)
            assert cold.table.equals(warm.table)
            assert [(w.code, w.count) for w in cold.warnings] == [
                (WarningCode.INVALID_BARS_SKIPPED, 6)  # 5 repeated keys, 1 invalid bar
            ]
            answers[slug] = cold.table.drop_columns(["provider"])
        assert answers["one"].num_rows == 39
        assert answers["one"].equals(answers["two"])
        later = START + timedelta(days=25)  # the repeated days kept from the first batch
        assert answers["one"].column("close").to_pylist() == [
            bar_values(100.0, int(ts.timestamp()) * 1_000_000)[3] + (0.5 if ts >= later else 0)
            for ts in answers["one"].column("timestamp").to_pylist()
        ]


def _refuse_daily_bars(url: str, on: bool) -> None:
    """A real database failure: a trigger that refuses every daily bar (or its removal)."""
    with dbapi.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        if on:
            cur.execute(
                """CREATE FUNCTION refuse_bar() RETURNS trigger LANGUAGE plpgsql AS
                   $$ BEGIN RAISE EXCEPTION 'no daily bars today'; END $$"""
            )
            cur.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON bars_daily "
                "FOR EACH ROW EXECUTE FUNCTION refuse_bar()"
            )
        else:
            cur.execute("DROP TRIGGER refuse ON bars_daily")
            cur.execute("DROP FUNCTION refuse_bar()")


@pytest.mark.parametrize(
    "text",
    [
        '{"zeta":"1","a":"é\\n","bb":"x"}',
        '{"b": 1, "a": {"z": [1, 2.50, "x", true, null], "y": -0, "x": -0.00}}',
        '{"a":"1","a":"2"}',
        '{"k": "\\u0001\\u001f\\u007f\\/\\b\\f\\r"}',
        '{"long key": [], "s": {}, "€": "€"}',
        "{}",
    ],
)
async def test_jsonb_text_is_what_postgresql_prints(fresh_database_url: str, text: str):
    def printed() -> str:
        with dbapi.connect(fresh_database_url) as conn, conn.cursor() as cur:
            cur.execute("SELECT $1::jsonb::text", parameters=(text,))
            return str(cur.fetchall()[0][0])

    assert jsonb_text(text) == await asyncio.to_thread(printed)


def test_batches_cleaned_one_by_one_still_drop_a_key_repeated_across_them() -> None:
    def batch(days: range, close: float) -> pa.Table:
        stamps = [START + timedelta(days=d) for d in days]
        n = len(stamps)
        return clean_provider_batch(
            pa.table(
                {
                    "symbol": ["ACME"] * n,
                    "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
                    "open": [1.0] * n,
                    "high": [3.0] * n,
                    "low": [1.0] * n,
                    "close": [close] * n,
                    "volume": [10.0] * n,
                    "interval": ["1d"] * n,
                    "provider": ["alpha"] * n,
                }
            )
        ).table

    segments = [Segment(START, START + timedelta(days=5), "alpha")]
    first, second = batch(range(0, 3), 2.0), batch(range(2, 5), 2.5)
    answer = fetched_answer([first, second], segments, cleaned=True)
    assert answer is not None
    assert answer["timestamp"].to_pylist() == [START + timedelta(days=d) for d in range(5)]
    assert answer["close"].to_pylist() == [2.0, 2.0, 2.5, 2.5, 2.5]  # the later batch wins
    alone = fetched_answer([first], segments, cleaned=True)
    assert alone is not None
    assert alone.equals(fetched_answer([first], segments))
