"""The SDK server: request checks, error mapping, validation warnings, limit, columnar chunks."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pyarrow as pa
import pytest
from google.protobuf import empty_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk import (
    AuthFailed,
    Bar,
    HealthReport,
    HealthState,
    Provider,
    ProviderServer,
    RateLimited,
    SymbolNotFound,
    UpstreamUnavailable,
    parse_manifest,
    retry_after_from_metadata,
)
from timebase.sdk.status import error_info_from_metadata
from timebase.sdk.testing import fetch_chunk_rows, fetch_rows
from timebase.sdk.wire import to_timestamp_pb

MANIFEST = parse_manifest(
    {
        "name": "Fake",
        "version": "0.1",
        "slug": "fake",
        "intervals": ["1h", "1d"],
        "symbols": ["FAKE:[A-Z]+"],
        "max_days_per_request": {"1h": 30},
        "rate_limits": {"requests_per_minute": 60},
    }
)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


class FakeProvider(Provider):
    """Behaviour chosen by symbol, so one server covers every case."""

    def __init__(self) -> None:
        super().__init__(MANIFEST)
        self.calls = 0
        self.state = HealthState.HEALTHY

    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[Bar | pa.RecordBatch]:
        self.calls += 1
        errors: dict[str, Exception] = {
            "FAKE:MISSING": SymbolNotFound("no such symbol FAKE:MISSING"),
            "FAKE:LIMITED": RateLimited("upstream quota exhausted", retry_after=12.5),
            "FAKE:AUTH": AuthFailed("api key rejected"),
            "FAKE:DOWN": UpstreamUnavailable("upstream timed out"),
            "FAKE:BUG": ValueError("secret internals: password=hunter2"),
        }
        if symbol in errors:
            raise errors[symbol]
        step = timedelta(hours=1) if interval == "1h" else timedelta(days=1)
        if symbol == "FAKE:DIRTY":
            yield Bar(start, 10, 11, 9, 10.5, 100)
            yield Bar(start, 10, 11, 9, 10.5, 100)  # duplicate
            yield Bar(start + step, 10, 9, 11, 10, 100)  # high < low
            yield Bar(start + 2 * step, math.nan, 11, 9, 10, 100)
            yield Bar(start + 3 * step, 10, 11, 9, 10, -1)  # negative volume
            yield Bar(end, 10, 11, 9, 10, 1)  # outside [start, end)
            yield Bar(start + 4 * step + timedelta(hours=3), 10, 11, 9, 10, 1)  # 1d not at 00:00
            yield Bar(start + 5 * step, 10, 12, 8, 11, 5, {"note": "last"})
            return
        if symbol == "FAKE:ARROW":
            # Mixed: a few Bar objects, then record batches with a metadata column.
            t = start
            for _ in range(3):
                yield Bar(t, 1, 2, 0.5, 1.5, 10, {"adj_close": 1.4, "src": "bar"})
                t += step
            while t < end:
                ts = [t + i * step for i in range(50) if t + i * step < end]
                yield pa.RecordBatch.from_pydict(
                    {
                        "timestamp": pa.array(ts, pa.timestamp("us", tz="UTC")),
                        "open": [2.0] * len(ts),
                        "high": [3.0] * len(ts),
                        "low": [1.0] * len(ts),
                        "close": [2.5] * len(ts),
                        "volume": [7] * len(ts),
                        "metadata": [
                            json.dumps({"i": i}) if i % 2 else None for i in range(len(ts))
                        ],
                    }
                )
                t += 50 * step
            return
        big = symbol == "FAKE:BIG"
        t = start
        i = 0
        while t < end:
            meta = {"blob": "x" * 8000} if big else {}
            yield Bar(t, 100 + i, 101 + i, 99 + i, 100.5 + i, i, meta)
            t += step
            i += 1

    async def health(self) -> HealthReport:
        return HealthReport(self.state, f"state {self.state.value}", {"calls": str(self.calls)})


@pytest.fixture
async def fake() -> AsyncIterator[
    tuple[FakeProvider, pb_grpc.DataProviderAsyncStub, grpc.aio.Channel]
]:
    provider = FakeProvider()
    async with (
        ProviderServer(provider) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        yield provider, pb_grpc.DataProviderStub(channel), channel


def request(
    symbol: str = "FAKE:OK", interval: str = "1d", days: int = 10, **kw: Any
) -> pb.HistoricalDataRequest:
    fields: dict[str, Any] = {
        "symbol": symbol,
        "interval": interval,
        "start_time": to_timestamp_pb(T0),
        "end_time": to_timestamp_pb(T0 + timedelta(days=days)),
    }
    fields.update(kw)
    return pb.HistoricalDataRequest(**{k: v for k, v in fields.items() if v is not None})


async def rpc_error(
    stub: pb_grpc.DataProviderAsyncStub, req: pb.HistoricalDataRequest, columnar: bool = False
) -> grpc.aio.AioRpcError:
    fetch = fetch_chunk_rows if columnar else fetch_rows
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await fetch(stub, req)
    return info.value


INVALID = [
    (request(symbol=""), "symbol: must not be empty"),
    (request(symbol="   "), "symbol: must not be empty"),
    (
        request(symbol="AAPL"),
        "symbol: 'AAPL' is not served by provider 'fake' (symbols must match: FAKE:[A-Z]+)",
    ),
    (
        request(interval="2h"),
        "interval: unknown interval '2h'; valid intervals: 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1wk, 1mo",
    ),
    (
        request(interval=""),
        "interval: must not be empty; valid intervals: 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1wk, 1mo",
    ),
    (
        request(interval="1m"),
        "interval: interval '1m' is not supported by provider 'fake' (supported: 1h, 1d)",
    ),
    (request(start_time=None), "start_time: required"),
    (request(end_time=None), "end_time: required"),
    (
        request(days=0),
        "start_time: must be before end_time (got start_time=2024-01-01T00:00:00+00:00, end_time=2024-01-01T00:00:00+00:00)",
    ),
    (
        request(start_time=to_timestamp_pb(T0 + timedelta(days=12))),
        "start_time: must be before end_time (got start_time=2024-01-13T00:00:00+00:00, end_time=2024-01-11T00:00:00+00:00)",
    ),
    (request(limit=0), "limit: must be a positive integer, got 0"),
    (request(limit=-3), "limit: must be a positive integer, got -3"),
    (
        request(provider="yahoo-finance"),
        "provider: request is for provider 'yahoo-finance', this is 'fake'",
    ),
    (
        request(interval="1h", days=31),
        "end_time: range of 31 days exceeds max_days_per_request 30 of provider 'fake' for 1h",
    ),
]


@pytest.mark.parametrize("columnar", [False, True])
@pytest.mark.parametrize(("req", "message"), INVALID)
async def test_malformed_requests_invalid_argument_before_author_code(
    fake: Any, req: pb.HistoricalDataRequest, message: str, columnar: bool
) -> None:
    provider, stub, _ = fake
    err = await rpc_error(stub, req, columnar)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == message
    assert provider.calls == 0


async def test_symbol_is_normalised_upper_case(fake: Any) -> None:
    _, stub, _ = fake
    msgs = [m async for m in stub.GetHistoricalData(request(symbol=" fake:ok ", days=2))]
    assert [m.symbol for m in msgs] == ["FAKE:OK", "FAKE:OK"]
    assert {m.provider for m in msgs} == {"fake"}
    assert {m.interval for m in msgs} == {"1d"}


@pytest.mark.parametrize("columnar", [False, True])
@pytest.mark.parametrize(
    ("symbol", "code", "message"),
    [
        ("FAKE:MISSING", grpc.StatusCode.NOT_FOUND, "no such symbol FAKE:MISSING"),
        ("FAKE:AUTH", grpc.StatusCode.UNAUTHENTICATED, "api key rejected"),
        ("FAKE:DOWN", grpc.StatusCode.UNAVAILABLE, "upstream timed out"),
        ("FAKE:LIMITED", grpc.StatusCode.RESOURCE_EXHAUSTED, "upstream quota exhausted"),
        ("FAKE:BUG", grpc.StatusCode.INTERNAL, "internal provider error (ValueError)"),
    ],
)
async def test_provider_errors_map_to_grpc_codes(
    fake: Any, symbol: str, code: grpc.StatusCode, message: str, columnar: bool
) -> None:
    _, stub, _ = fake
    err = await rpc_error(stub, request(symbol=symbol), columnar)
    assert err.code() == code
    assert err.details() == message
    assert "hunter2" not in str(err.debug_error_string())


async def test_rate_limited_carries_retry_info(fake: Any) -> None:
    _, stub, _ = fake
    err = await rpc_error(stub, request(symbol="FAKE:LIMITED"))
    trailing = err.trailing_metadata()
    assert retry_after_from_metadata(trailing) == 12.5
    # The same, parsed by hand as any gRPC client would (google.rpc.Status in trailing metadata).
    items: list[Any] = list(trailing or ())
    raw = next(value for key, value in items if key == "grpc-status-details-bin")
    status = status_pb2.Status.FromString(raw)
    assert status.code == code_pb2.RESOURCE_EXHAUSTED
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert (info.retry_delay.seconds, info.retry_delay.nanos) == (12, 500_000_000)


@pytest.mark.parametrize(
    ("req", "reason", "metadata"),
    [
        (request(symbol="AAPL"), "INVALID_ARGUMENT", {"symbol": "AAPL"}),
        (request(interval="1m"), "INVALID_ARGUMENT", {"interval": "1m"}),
        (request(symbol="FAKE:MISSING"), "SYMBOL_NOT_FOUND", {}),
        (request(symbol="FAKE:LIMITED"), "PROVIDER_RATE_LIMITED", {}),
    ],
)
async def test_errors_carry_their_code_and_what_they_name_as_error_info(
    fake: Any, req: pb.HistoricalDataRequest, reason: str, metadata: dict[str, str]
) -> None:
    _, stub, _ = fake
    err = await rpc_error(stub, req)
    info = error_info_from_metadata(err.trailing_metadata())
    assert info is not None
    assert (info.reason, dict(info.metadata)) == (reason, metadata)
    # The same, parsed by hand as any gRPC client would: an ErrorInfo detail in the rich status.
    items: list[Any] = list(err.trailing_metadata() or ())
    status = status_pb2.Status.FromString(
        next(value for key, value in items if key == "grpc-status-details-bin")
    )
    assert status.code == err.code().value[0]
    raw = error_details_pb2.ErrorInfo()
    assert status.details[-1].Unpack(raw)
    assert (raw.reason, raw.domain) == (reason, "timebase")


async def test_internal_errors_carry_no_error_info(fake: Any) -> None:
    _, stub, _ = fake
    err = await rpc_error(stub, request(symbol="FAKE:BUG"))
    assert error_info_from_metadata(err.trailing_metadata()) is None


async def test_invalid_bars_skipped_counted_and_reported(fake: Any) -> None:
    _, stub, _ = fake
    for call in (stub.GetHistoricalData, stub.GetHistoricalBars):
        stream = call(request(symbol="FAKE:DIRTY", days=10))
        items = [item async for item in stream]
        assert items
        trailing = dict(await stream.trailing_metadata())
        warnings = json.loads(trailing["x-timebase-warnings"])
        assert warnings == [
            {
                "code": "INVALID_BARS_SKIPPED",
                "message": warnings[0]["message"],
                "provider": "fake",
                "count": 6,
            }
        ]
        text = warnings[0]["message"]
        assert text.startswith("skipped 6 invalid bar(s): ")
        for reason in (
            "not after the previous",
            "high/low inconsistent",
            "not a finite number",
            "negative volume",
            "outside the requested range",
            "not at 00:00 UTC",
        ):
            assert reason in text
    rows = await fetch_rows(stub, request(symbol="FAKE:DIRTY", days=10))
    assert [r.timestamp for r in rows] == [T0, T0 + timedelta(days=5)]
    assert rows[1].metadata == (("note", "last"),)


async def test_clean_stream_has_no_warning(fake: Any) -> None:
    _, stub, _ = fake
    stream = stub.GetHistoricalData(request(days=3))
    assert len([m async for m in stream]) == 3
    assert "x-timebase-warnings" not in dict(await stream.trailing_metadata())


async def test_limit_keeps_most_recent_even_if_author_ignores_it(fake: Any) -> None:
    _, stub, _ = fake
    full = await fetch_rows(stub, request(interval="1h", days=20))
    assert len(full) == 480
    for limit in (1, 7, 480, 1000):
        limited = await fetch_rows(stub, request(interval="1h", days=20, limit=limit))
        assert limited == full[-limit:]
        assert await fetch_chunk_rows(stub, request(interval="1h", days=20, limit=limit)) == limited


async def test_columnar_equals_per_bar_for_bars_and_record_batches(fake: Any) -> None:
    _, stub, _ = fake
    for symbol, interval, days in (
        ("FAKE:OK", "1h", 25),
        ("FAKE:ARROW", "1h", 20),
        ("FAKE:ARROW", "1d", 400),
    ):
        req = request(symbol=symbol, interval=interval, days=days)
        per_bar = await fetch_rows(stub, req)
        assert per_bar
        assert await fetch_chunk_rows(stub, req) == per_bar
    rows = await fetch_rows(stub, request(symbol="FAKE:ARROW", interval="1h", days=5))
    assert len(rows) == 120
    assert rows[0].metadata == (("adj_close", "1.4"), ("src", "bar"))
    assert rows[3].metadata == ()
    assert rows[4].metadata == (("i", "1"),)
    assert [r.ts_us for r in rows] == sorted({r.ts_us for r in rows})


async def test_chunks_stay_under_4_mib(fake: Any) -> None:
    _, stub, _ = fake
    chunks = [
        c async for c in stub.GetHistoricalBars(request(symbol="FAKE:BIG", interval="1h", days=30))
    ]
    assert len(chunks) > 1
    assert all(c.ByteSize() < 4 * 1024 * 1024 for c in chunks)
    assert sum(len(c.timestamps_us) for c in chunks) == 720
    assert all(len(c.metadata) == len(c.timestamps_us) for c in chunks)


async def test_capabilities_and_health(fake: Any) -> None:
    provider, stub, channel = fake
    caps = await stub.GetCapabilities(empty_pb2.Empty())
    assert (caps.slug, list(caps.intervals), caps.rate_limits.requests_per_minute) == (
        "fake",
        ["1h", "1d"],
        60,
    )
    assert not caps.HasField("max_lookback_days")
    status = await stub.HealthCheck(empty_pb2.Empty())
    assert status.status == pb.HealthStatus.HEALTHY
    assert status.message == "state healthy"
    provider.state = HealthState.DEGRADED
    status = await stub.HealthCheck(empty_pb2.Empty())
    assert status.status == pb.HealthStatus.DEGRADED
    reply = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="timebase.provider.DataProvider")
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_realtime_unimplemented_without_capability(fake: Any) -> None:
    _, stub, _ = fake

    async def controls() -> AsyncIterator[pb.StreamControl]:
        yield pb.StreamControl(action=pb.StreamControl.SUBSCRIBE, symbol="FAKE:OK", interval="1d")

    with pytest.raises(grpc.aio.AioRpcError) as info:
        async for _ in stub.StreamRealTimeData(controls()):
            pass
    assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_server_reflection_lists_services(fake: Any) -> None:
    _, _, channel = fake
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    names = set()
    async for reply in stub.ServerReflectionInfo(ask()):
        names |= {s.name for s in reply.list_services_response.service}
    assert {"timebase.provider.DataProvider", "grpc.health.v1.Health"} <= names


async def test_stop_turns_health_not_serving() -> None:
    """A client watching health sees NOT_SERVING while stop() still waits out its grace period."""
    server = ProviderServer(FakeProvider())
    await server.start()
    async with grpc.aio.insecure_channel(server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert (
            await health.Check(health_pb2.HealthCheckRequest())
        ).status == health_pb2.HealthCheckResponse.SERVING
        watch = health.Watch(health_pb2.HealthCheckRequest())
        first = await asyncio.wait_for(watch.read(), 10)
        assert first.status == health_pb2.HealthCheckResponse.SERVING

        # The open Watch is an in-flight call: stop() waits up to `grace` for it.
        stopping = asyncio.create_task(server.stop(grace=30))
        update = await asyncio.wait_for(watch.read(), 10)
        assert update.status == health_pb2.HealthCheckResponse.NOT_SERVING
        assert not stopping.done()  # still in the grace period
        watch.cancel()  # the last in-flight call ends: stop() finishes without the full grace
        await asyncio.wait_for(stopping, 10)
        with pytest.raises(grpc.aio.AioRpcError):
            await health.Check(health_pb2.HealthCheckRequest(), timeout=2)
