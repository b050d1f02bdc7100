"""Rendered answers kept by origin (`timebase.grpc.rendered`, `timebase.store.table_origins`):
a repeat of the same origin is the same bytes; a new version, a derived table or the bounds
mean rendering again."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta

import pyarrow as pa

from timebase.gateway.bar_columns import table_to_chunks
from timebase.grpc.rendered import RenderedAnswers
from timebase.store import BAR_SCHEMA
from timebase.store import table_origins as origins
from timebase.store.bars import SeriesKey
from timebase.v1 import bars_pb2 as v1

START = datetime(2024, 1, 1, tzinfo=UTC)
KEY = SeriesKey("ACME", "1d", "alpha")


def bars(n: int, close: float = 10.0) -> pa.Table:
    return pa.table(
        {
            "symbol": ["ACME"] * n,
            "timestamp": pa.array(
                [START + timedelta(days=i) for i in range(n)], pa.timestamp("us", tz="UTC")
            ),
            "open": [close] * n,
            "high": [close] * n,
            "low": [close] * n,
            "close": [close + i for i in range(n)],
            "volume": [1.0] * n,
            "interval": ["1d"] * n,
            "provider": ["alpha"] * n,
            "metadata": pa.nulls(n, pa.string()),
        },
        schema=BAR_SCHEMA,
    )


def origin(version: int, n: int = 5) -> tuple[object, ...]:
    return ("bars", KEY, version, START, START + timedelta(days=n))


class Counting:
    """table_to_chunks as GetBars renders it, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, table: pa.Table) -> list[v1.GetBarsResponse]:
        self.calls += 1
        return list(table_to_chunks(table, v1.GetBarsResponse))


def closes(messages: list[bytes]) -> list[float]:
    return [c for m in messages for c in v1.GetBarsResponse.FromString(m).close]


def test_a_repeat_of_an_origin_is_the_same_bytes_without_rendering() -> None:
    rendered, build = RenderedAnswers(), Counting()
    first = bars(5)
    origins.tag(first, origin(7))
    sent = list(rendered.render(first, "GetBars", build))
    assert closes(sent) == [10.0, 11.0, 12.0, 13.0, 14.0]
    again = bars(5)  # another read of the same series at the same version
    origins.tag(again, origin(7))
    assert list(rendered.render(again, "GetBars", build)) == sent
    assert build.calls == 1
    assert (rendered.hits, rendered.misses, len(rendered)) == (1, 1, 1)


def test_a_new_version_of_the_series_is_rendered_again() -> None:
    rendered, build = RenderedAnswers(), Counting()
    old = bars(5)
    origins.tag(old, origin(7))
    assert closes(list(rendered.render(old, "GetBars", build))) == [10.0, 11.0, 12.0, 13.0, 14.0]
    written = bars(5, close=20.0)  # the series after a write: a new version
    origins.tag(written, origin(8))
    assert closes(list(rendered.render(written, "GetBars", build))) == [
        20.0,
        21.0,
        22.0,
        23.0,
        24.0,
    ]
    assert build.calls == 2


def test_each_kind_of_message_is_kept_apart() -> None:
    rendered, build = RenderedAnswers(), Counting()
    table = bars(5)
    origins.tag(table, origin(7))
    list(rendered.render(table, "GetBars", build))
    list(rendered.render(table, "GetHistoricalBars", build))
    assert build.calls == 2
    assert len(rendered) == 2


def test_a_table_without_an_origin_is_rendered_each_time_and_not_kept() -> None:
    rendered, build = RenderedAnswers(), Counting()
    tagged = bars(5)
    origins.tag(tagged, origin(7))
    derived = tagged.slice(1)  # masked, sliced, adjusted...: another table, without an origin
    assert origins.origin_of(derived) is None
    for _ in range(2):
        messages = list(rendered.render(derived, "GetBars", build))
        assert all(isinstance(m, v1.GetBarsResponse) for m in messages)
    assert build.calls == 2
    assert len(rendered) == 0


def test_an_origin_lives_as_long_as_its_table() -> None:
    table = bars(3)
    origins.tag(table, origin(9, 3))
    assert origins.origin_of(table) == origin(9, 3)
    live = origins.tagged()
    del table
    gc.collect()
    assert origins.tagged() == live - 1


def test_least_recently_used_answers_are_evicted_under_the_bounds() -> None:
    one = len(b"".join(list(RenderedAnswers().render(_tagged(1), "GetBars", Counting()))))
    rendered, build = RenderedAnswers(max_bytes=4 * one, max_entries=10), Counting()
    for version in (1, 2, 3, 4):
        list(rendered.render(_tagged(version), "GetBars", build))
    list(rendered.render(_tagged(1), "GetBars", build))  # 1 is now the most recently used
    list(rendered.render(_tagged(5), "GetBars", build))  # over the byte bound: 2 goes
    assert build.calls == 5
    assert rendered.bytes <= rendered.max_bytes
    for version in (1, 3, 4, 5):
        list(rendered.render(_tagged(version), "GetBars", build))
    assert build.calls == 5  # still kept
    list(rendered.render(_tagged(2), "GetBars", build))
    assert build.calls == 6  # evicted: rendered again

    by_count, build = RenderedAnswers(max_entries=2), Counting()
    for version in (1, 2, 3):
        list(by_count.render(_tagged(version), "GetBars", build))
    assert len(by_count) == 2
    list(by_count.render(_tagged(1), "GetBars", build))
    assert build.calls == 4


def test_an_answer_larger_than_a_quarter_of_the_bound_is_sent_not_kept() -> None:
    rendered, build = RenderedAnswers(max_bytes=400), Counting()
    sent = list(rendered.render(_tagged(1, 50), "GetBars", build))
    assert len(closes(sent)) == 50
    assert len(rendered) == 0
    assert rendered.bytes == 0


def _tagged(version: int, n: int = 5) -> pa.Table:
    table = bars(n)
    origins.tag(table, origin(version, n))
    return table
