"""The hub's parts on their own: control checks, the overflow policy, the batched writer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

import pyarrow as pa
import pytest

from tests.support.eventually import eventually
from timebase.gateway.realtime import (
    BarWriter,
    ClientQueue,
    ClientSession,
    Kind,
    is_warning,
    parse_control,
    warnings_of,
)
from timebase.gateway.realtime.controls import Action, Control
from timebase.provider import provider_pb2 as pb
from timebase.sdk.backoff import Backoff
from timebase.sdk.errors import InvalidRequestError
from timebase.store import BAR_SCHEMA
from timebase.store.store import Store

T0 = 1_709_560_800_000_000  # 2024-03-04T14:00:00Z in µs
KEY = ("SYN:ACME", "1m")


def bar(i: int, *, final: bool, symbol: str = "SYN:ACME") -> pb.TimeSeriesData:
    msg = pb.TimeSeriesData(symbol=symbol, interval="1m", provider="alpha", close=float(i))
    msg.timestamp.FromMicroseconds(T0 + i * 60_000_000)
    msg.metadata["final"] = "true" if final else "false"
    return msg


def put(q: ClientQueue, i: int, *, final: bool, key: tuple[str, str] = KEY) -> None:
    q.put(Kind.FINAL if final else Kind.IN_PROGRESS, key, bar(i, final=final, symbol=key[0]))


async def drain(q: ClientQueue) -> list[pb.TimeSeriesData]:
    out = []
    while len(q) or q._gaps:
        msg = await q.get()
        assert msg is not None
        out.append(msg)
    return out


def describe(msgs: list[pb.TimeSeriesData]) -> list[str]:
    out = []
    for m in msgs:
        if is_warning(m):
            [w] = warnings_of(m)
            out.append(f"{w['code']}:{w['count']}:{m.symbol}")
        else:
            out.append(f"{'F' if m.metadata['final'] == 'true' else 'p'}{int(m.close)}")
    return out


# -- overflow policy -------------------------------------------------------------------------


async def test_queue_below_capacity_keeps_everything_in_order() -> None:
    q = ClientQueue(4)
    put(q, 0, final=False)
    put(q, 0, final=True)
    put(q, 1, final=False)
    assert describe(await drain(q)) == ["p0", "F0", "p1"]
    assert q.dropped_final == q.dropped_in_progress == 0


async def test_overflow_drops_oldest_in_progress_first() -> None:
    q = ClientQueue(3)
    put(q, 0, final=False)
    put(q, 0, final=True)
    put(q, 1, final=False)
    put(q, 1, final=True)  # full: p0 goes
    put(q, 2, final=False)  # full: p1 goes
    assert describe(await drain(q)) == ["F0", "F1", "p2"]
    assert (q.dropped_in_progress, q.dropped_final) == (2, 0)


async def test_overflow_drops_new_in_progress_when_only_finals_are_queued() -> None:
    q = ClientQueue(2)
    put(q, 0, final=True)
    put(q, 1, final=True)
    put(q, 2, final=False)
    assert describe(await drain(q)) == ["F0", "F1"]
    assert (q.dropped_in_progress, q.dropped_final) == (1, 0)


async def test_overflow_of_finals_drops_oldest_and_sends_one_gap_warning_first() -> None:
    q = ClientQueue(3)
    for i in range(7):
        put(q, i, final=True)
    put(q, 0, final=True, key=("SYN:BETA", "1m"))
    msgs = await drain(q)
    assert describe(msgs) == [
        "PARTIAL_DATA:5:SYN:ACME",
        "F5",
        "F6",
        "F0",
    ]
    [gap] = warnings_of(msgs[0])
    assert gap["provider"] == "alpha"
    assert gap["start"] == "2024-03-04T14:00:00+00:00"
    # [start, end) covers exactly the lost bar starts (14:00 .. 14:04).
    assert gap["end"] == "2024-03-04T14:04:00.000001+00:00"
    assert msgs[0].interval == "1m"
    assert not msgs[0].HasField("timestamp")
    assert q.dropped_final == 5


async def test_get_waits_and_close_wakes_it() -> None:
    q = ClientQueue(2)
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    put(q, 3, final=True)
    assert describe([cast(pb.TimeSeriesData, await waiter)]) == ["F3"]
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    q.close()
    assert await waiter is None
    put(q, 4, final=True)  # ignored once closed
    assert len(q) == 0


def test_queue_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        ClientQueue(0)


# -- pause / resume --------------------------------------------------------------------------


def test_pause_and_resume_scopes() -> None:
    s = ClientSession(1, 4)
    s.subscriptions |= {("A", "1m"), ("A", "5m"), ("B", "1m")}
    s.pause(Control(Action.PAUSE, "A"))
    assert not s.wants(("A", "1m"))
    assert not s.wants(("A", "5m"))
    assert s.wants(("B", "1m"))
    s.resume(Control(Action.RESUME, "A", "5m"))  # resumes one interval of a paused symbol
    assert s.wants(("A", "5m"))
    assert not s.wants(("A", "1m"))
    s.resume(Control(Action.RESUME, "A"))
    assert s.wants(("A", "1m"))
    s.pause(Control(Action.PAUSE))
    assert not s.wants(("B", "1m"))
    s.resume(Control(Action.RESUME))
    assert all(s.wants(k) for k in s.subscriptions)


# -- controls --------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", ["SYN:ACME", "BRK.B", "^GSPC", "EURUSD=X", "BTC-USD", "a_b"])
def test_valid_symbols_are_upper_cased(symbol: str) -> None:
    control = parse_control(
        pb.StreamControl(action=pb.StreamControl.SUBSCRIBE, symbol=symbol, interval="1h")
    )
    assert control.key == (symbol.upper(), "1h")


@pytest.mark.parametrize(
    ("symbol", "interval", "message"),
    [
        ("A" * 65, "1m", "symbol: at most 64 characters, got 65"),
        ("AAPL/X", "1m", "symbol: 'AAPL/X' may contain only letters"),
        ("  ", "1m", "symbol: must not be empty"),
        ("AAPL", "1s", "interval: unknown interval '1s'"),
    ],
)
def test_bad_subscribe_names_the_field(symbol: str, interval: str, message: str) -> None:
    with pytest.raises(InvalidRequestError) as info:
        parse_control(
            pb.StreamControl(action=pb.StreamControl.SUBSCRIBE, symbol=symbol, interval=interval)
        )
    assert info.value.message.startswith(message)


def test_unsubscribe_pause_resume_parse() -> None:
    unsub = parse_control(pb.StreamControl(action=pb.StreamControl.UNSUBSCRIBE, symbol="aapl"))
    assert (unsub.action, unsub.key) == (Action.UNSUBSCRIBE, ("AAPL", ""))
    pause = parse_control(pb.StreamControl(action=pb.StreamControl.PAUSE))
    assert (pause.action, pause.key) == (Action.PAUSE, ("", ""))
    with pytest.raises(InvalidRequestError, match=r"^symbol: must not be empty"):
        parse_control(pb.StreamControl(action=pb.StreamControl.UNSUBSCRIBE))
    with pytest.raises(InvalidRequestError, match=r"^action: unknown action 7"):
        parse_control(pb.StreamControl(action=cast(Any, 7), symbol="A"))


def test_backoff_grows_is_capped_and_jittered() -> None:
    b = Backoff(initial=1.0, factor=2.0, maximum=5.0, jitter=0.2)
    calls = 0

    def pinned(value: float) -> Callable[[], float]:
        def rng() -> float:
            nonlocal calls
            calls += 1
            return value

        return rng

    def delays(value: float) -> list[float]:
        return [b.delay(n, rng=pinned(value)) for n in (0, 1, 2, 3, 4, 10)]

    assert delays(0.5) == [0.0, 1.0, 2.0, 4.0, 5.0, 5.0]  # doubling, capped at 5 s
    assert delays(0.0) == pytest.approx([0.0, 0.8, 1.6, 3.2, 4.0, 4.0])  # -20 %
    assert delays(1.0) == pytest.approx([0.0, 1.2, 2.4, 4.8, 6.0, 6.0])  # +20 %
    assert calls == 15  # one draw per delay, none before the first failure


# -- writer ----------------------------------------------------------------------------------


class FlakySink:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.tables: list[pa.Table] = []

    async def write_provider_batch(self, table: pa.Table) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database down")
        self.tables.append(table)


async def test_writer_batches_dedupes_and_retries_after_a_failed_write() -> None:
    sink = FlakySink(failures=1)
    writer = BarWriter(sink, interval=0.02, max_rows=1000)
    await writer.start()
    try:
        writer.add(("A", "1m", "alpha", T0), (1, 2, 0.5, 1.5, 10), {"x": "1"})
        writer.add(("A", "1m", "alpha", T0), (1, 2, 0.5, 1.6, 11), {})  # a revision: newest wins
        writer.add(("A", "1m", "alpha", T0 + 60_000_000), (1, 2, 0.5, 1.5, 10), {})
        await eventually(lambda: bool(sink.tables), what="the batch written")
    finally:
        await writer.stop()
    assert writer.failures == 0
    [table] = sink.tables
    assert table.schema == BAR_SCHEMA
    rows = table.to_pylist()
    assert [(r["close"], r["volume"], r["metadata"]) for r in rows] == [
        (1.6, 11.0, None),
        (1.5, 10.0, None),
    ]
    assert rows[0]["timestamp"] == datetime(2024, 3, 4, 14, 0, tzinfo=UTC)
    assert writer.written == 2


async def test_writer_bounds_pending_rows_and_flushes_at_stop() -> None:
    sink = FlakySink(failures=0)
    writer = BarWriter(sink, interval=60, max_rows=10_000, max_pending=3)
    for i in range(5):
        writer.add(("A", "1m", "alpha", T0 + i), (1, 1, 1, 1, 1), {"i": str(i)})
    assert writer.pending == 3
    assert writer.dropped == 2
    await writer.stop()  # never started: still flushes what is pending
    [table] = sink.tables
    assert [json.loads(m)["i"] for m in table.column("metadata").to_pylist()] == ["2", "3", "4"]


async def test_the_real_store_accepts_the_writer_batches(fresh_database_url: str) -> None:
    async with Store(fresh_database_url, pool_size=1, run_retention=False) as store:
        writer = BarWriter(store)
        writer.add(("SYN:ACME", "1d", "alpha", 1_709_510_400_000_000), (1, 2, 0.5, 1.5, 3), {})
        writer.add(("SYN:ACME", "1d", "alpha", 1_709_596_800_000_000), (1, 0.5, 2, 1.5, 3), {})
        await writer.flush()  # the second bar has high < low: skipped by the store
        rows = (
            await store.read_table(
                "SYN:ACME", "1d", datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC)
            )
        ).to_pylist()
    assert [r["timestamp"] for r in rows] == [datetime(2024, 3, 4, tzinfo=UTC)]


class SlowSink:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = 0
        self.finished = 0
        self.writing = asyncio.Event()

    async def write_provider_batch(self, table: pa.Table) -> None:
        self.started += 1
        self.writing.set()
        await asyncio.sleep(self.seconds)
        self.finished += table.num_rows


async def test_writer_stop_lets_an_in_flight_write_finish_then_flushes_the_rest() -> None:
    sink = SlowSink(0.2)
    writer = BarWriter(sink, interval=0.01, stop_timeout=5)
    await writer.start()
    writer.add(("A", "1m", "alpha", T0), (1, 1, 1, 1, 1), {})
    await asyncio.wait_for(sink.writing.wait(), 5)
    writer.add(("A", "1m", "alpha", T0 + 1), (1, 1, 1, 1, 1), {})  # arrives mid-write
    await writer.stop()
    assert (sink.started, sink.finished, writer.pending) == (2, 2, 0)


async def test_writer_stop_is_bounded_when_the_store_hangs() -> None:
    sink = SlowSink(60)
    writer = BarWriter(sink, interval=0.01, stop_timeout=0.2)
    await writer.start()
    writer.add(("A", "1m", "alpha", T0), (1, 1, 1, 1, 1), {})
    await asyncio.wait_for(sink.writing.wait(), 5)
    started = asyncio.get_running_loop().time()
    await writer.stop()
    assert asyncio.get_running_loop().time() - started < 1
    assert writer.pending == 1  # kept (and reported), not silently lost
