"""Contract-test kit: check a running provider against the TimeBase provider contract with pytest.

    from timebase.sdk.testing import ContractCase, ProviderContract

    class TestMyProvider(ProviderContract):
        @pytest.fixture
        def contract(self, my_running_provider) -> ContractCase:
            return ContractCase(
                target=my_running_provider,          # "host:port"
                manifest=load_manifest("providers/mine/config.yaml"),
                symbol="AAPL",
                start=datetime(2024, 1, 2, tzinfo=UTC),
                end=datetime(2024, 2, 1, tzinfo=UTC),
            )

Every `test_*` method of `ProviderContract` then runs against it: capabilities match the manifest;
bars sorted, unique, inside [start, end), well-formed and aligned (daily and longer at 00:00 UTC);
`limit` honoured (the most recent bars); the columnar `GetHistoricalBars` returns exactly the
per-bar rows; GetSymbols answers a well-formed catalogue (unique upper-case symbols the manifest
serves, intervals it lists) or UNIMPLEMENTED; the gRPC health service answers SERVING and HealthCheck answers; malformed requests get
INVALID_ARGUMENT naming the field; an unknown symbol (when given) gets NOT_FOUND.

`provider_process(folder)` runs a provider folder as a real `python src/main.py` process on an
ephemeral port (a context manager yielding its "host:port"), to run the contract against it.

Needs pytest and an asyncio plugin (pytest-asyncio); it is not imported by `timebase.sdk`.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk.intervals import Interval
from timebase.sdk.manifest import Manifest
from timebase.sdk.server import SERVICE_NAME
from timebase.sdk.wire import Row, chunk_rows, message_row, to_timestamp_pb

US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class ContractCase:
    """What the contract tests run against."""

    #: "host:port" of the running provider.
    target: str
    manifest: Manifest
    #: A symbol the provider has data for in [start, end) at every tested interval.
    symbol: str
    start: datetime
    end: datetime
    #: Intervals to exercise (default: all the manifest lists).
    intervals: Sequence[str] | None = None
    #: Per-interval (start, end) overrides, e.g. a shorter range for 1m.
    ranges: Mapping[str, tuple[datetime, datetime]] = field(default_factory=dict)
    #: A well-formed symbol the provider does not know (expects NOT_FOUND); None skips that test.
    unknown_symbol: str | None = None
    #: A symbol the manifest's patterns reject (expects INVALID_ARGUMENT); None skips that check.
    foreign_symbol: str | None = None
    limit: int = 3
    timeout: float = 30.0
    #: GetSymbols: True if the provider must list its symbols (and `listed_symbols` among them),
    #: False if it must answer UNIMPLEMENTED, None to accept either (a listing is still checked).
    lists_symbols: bool | None = None
    #: Symbols the provider's GetSymbols must list (when it lists).
    listed_symbols: Sequence[str] = ()

    def tested_intervals(self) -> Sequence[str]:
        return self.intervals if self.intervals is not None else self.manifest.intervals

    def range_for(self, interval: str) -> tuple[datetime, datetime]:
        return self.ranges.get(interval, (self.start, self.end))

    def request(self, interval: str, **overrides: object) -> pb.HistoricalDataRequest:
        start, end = self.range_for(interval)
        fields: dict[str, Any] = {
            "symbol": self.symbol,
            "interval": interval,
            "start_time": to_timestamp_pb(start),
            "end_time": to_timestamp_pb(end),
        }
        fields.update(overrides)
        return pb.HistoricalDataRequest(**{k: v for k, v in fields.items() if v is not None})


async def fetch_rows(
    stub: pb_grpc.DataProviderAsyncStub, request: pb.HistoricalDataRequest, deadline: float = 30.0
) -> list[Row]:
    """All rows of the per-bar RPC."""
    return [message_row(msg) async for msg in stub.GetHistoricalData(request, timeout=deadline)]


async def fetch_chunk_rows(
    stub: pb_grpc.DataProviderAsyncStub, request: pb.HistoricalDataRequest, deadline: float = 30.0
) -> list[Row]:
    """All rows of the columnar RPC."""
    rows: list[Row] = []
    async for chunk in stub.GetHistoricalBars(request, timeout=deadline):
        assert chunk.ByteSize() < 4 * 1024 * 1024, "a BarChunk must stay under 4 MiB"
        rows.extend(chunk_rows(chunk))
    return rows


def check_rows(rows: Sequence[Row], interval: str, start: datetime, end: datetime) -> None:
    """Assert the contract's invariants for the bars of one request."""
    start_us = int((start - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    end_us = int((end - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    daily = Interval(interval).nominal >= timedelta(days=1)
    previous: int | None = None
    for row in rows:
        where = f"{interval} bar at {row.timestamp.isoformat()}"
        assert start_us <= row.ts_us < end_us, f"{where}: outside [{start}, {end})"
        if previous is not None:
            assert row.ts_us > previous, f"{where}: not after the previous bar (sorted, unique)"
        previous = row.ts_us
        if daily:
            assert row.ts_us % US_PER_DAY == 0, (
                f"{where}: daily or longer bars must be at 00:00 UTC"
            )
        values = (row.open, row.high, row.low, row.close, row.volume)
        assert all(math.isfinite(v) for v in values), f"{where}: non-finite value"
        assert row.volume >= 0, f"{where}: negative volume"
        assert row.low <= min(row.open, row.close), f"{where}: low above open/close"
        assert row.high >= max(row.open, row.close, row.low), f"{where}: high below open/close/low"


@pytest.mark.asyncio
class ProviderContract:
    """Subclass it and provide a `contract` fixture returning a `ContractCase`."""

    @pytest.fixture
    def contract(self) -> ContractCase:  # pragma: no cover - overridden by subclasses
        raise NotImplementedError("define a `contract` fixture returning a ContractCase")

    async def test_capabilities_match_manifest(self, contract: ContractCase) -> None:
        m = contract.manifest
        async with grpc.aio.insecure_channel(contract.target) as channel:
            caps = await pb_grpc.DataProviderStub(channel).GetCapabilities(
                empty_pb2.Empty(), timeout=contract.timeout
            )
        assert (caps.name, caps.version, caps.slug) == (m.name, m.version, m.slug)
        assert caps.supports_historical == m.capabilities.historical_data
        assert caps.supports_realtime == m.capabilities.real_time_streaming
        assert caps.supports_backfill == m.capabilities.backfill
        assert list(caps.intervals) == list(m.intervals)
        assert list(caps.data_types) == list(m.data_types)
        assert caps.rate_limits.requests_per_minute == (m.rate_limits.requests_per_minute or 0)
        assert caps.rate_limits.requests_per_day == (m.rate_limits.requests_per_day or 0)

    async def test_health_serving(self, contract: ContractCase) -> None:
        async with grpc.aio.insecure_channel(contract.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for service in ("", SERVICE_NAME):
                reply = await stub.Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=contract.timeout
                )
                assert reply.status == health_pb2.HealthCheckResponse.SERVING, service
            status = await pb_grpc.DataProviderStub(channel).HealthCheck(
                empty_pb2.Empty(), timeout=contract.timeout
            )
        assert status.status in (pb.HealthStatus.HEALTHY, pb.HealthStatus.DEGRADED)
        assert status.HasField("timestamp")

    async def test_bars_sorted_unique_in_range_aligned(self, contract: ContractCase) -> None:
        async with grpc.aio.insecure_channel(contract.target) as channel:
            stub = pb_grpc.DataProviderStub(channel)
            for interval in contract.tested_intervals():
                rows = await fetch_rows(stub, contract.request(interval), contract.timeout)
                assert rows, (
                    f"{interval}: no bars for {contract.symbol} in {contract.range_for(interval)}"
                )
                check_rows(rows, interval, *contract.range_for(interval))

    async def test_limit_returns_most_recent(self, contract: ContractCase) -> None:
        async with grpc.aio.insecure_channel(contract.target) as channel:
            stub = pb_grpc.DataProviderStub(channel)
            for interval in contract.tested_intervals():
                full = await fetch_rows(stub, contract.request(interval), contract.timeout)
                limited = await fetch_rows(
                    stub, contract.request(interval, limit=contract.limit), contract.timeout
                )
                assert limited == full[-contract.limit :], (
                    f"{interval}: limit must keep the most recent bars"
                )
                chunked = await fetch_chunk_rows(
                    stub, contract.request(interval, limit=contract.limit), contract.timeout
                )
                assert chunked == limited, f"{interval}: columnar limit differs"

    async def test_columnar_matches_per_bar(self, contract: ContractCase) -> None:
        async with grpc.aio.insecure_channel(contract.target) as channel:
            stub = pb_grpc.DataProviderStub(channel)
            for interval in contract.tested_intervals():
                request = contract.request(interval)
                per_bar = await fetch_rows(stub, request, contract.timeout)
                columnar = await fetch_chunk_rows(stub, request, contract.timeout)
                assert columnar == per_bar, (
                    f"{interval}: GetHistoricalBars differs from GetHistoricalData"
                )

    async def test_bad_requests_invalid_argument(self, contract: ContractCase) -> None:
        interval = contract.tested_intervals()[0]
        start, end = contract.range_for(interval)
        unsupported = [i.value for i in Interval if i.value not in contract.manifest.intervals]
        cases: list[tuple[pb.HistoricalDataRequest, str]] = [
            (contract.request(interval, symbol=""), "symbol"),
            (contract.request("2h"), "interval"),
            (
                contract.request(
                    interval, start_time=to_timestamp_pb(end), end_time=to_timestamp_pb(start)
                ),
                "start_time",
            ),
            (
                contract.request(
                    interval, start_time=to_timestamp_pb(start), end_time=to_timestamp_pb(start)
                ),
                "start_time",
            ),
            (pb.HistoricalDataRequest(symbol=contract.symbol, interval=interval), "start_time"),
            (contract.request(interval, limit=-1), "limit"),
        ]
        if unsupported:
            cases.append((contract.request(unsupported[0]), "interval"))
        if contract.foreign_symbol is not None:
            cases.append((contract.request(interval, symbol=contract.foreign_symbol), "symbol"))
        async with grpc.aio.insecure_channel(contract.target) as channel:
            stub = pb_grpc.DataProviderStub(channel)
            for request, field_name in cases:
                for call in (stub.GetHistoricalData, stub.GetHistoricalBars):
                    with pytest.raises(grpc.aio.AioRpcError) as info:
                        async for _ in call(request, timeout=contract.timeout):
                            pass
                    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (
                        request,
                        info.value,
                    )
                    assert (info.value.details() or "").startswith(f"{field_name}:"), (
                        info.value.details()
                    )

    async def test_symbols_catalogue(self, contract: ContractCase) -> None:
        m = contract.manifest
        async with grpc.aio.insecure_channel(contract.target) as channel:
            stub = pb_grpc.DataProviderStub(channel)
            failure: grpc.aio.AioRpcError | None = None
            try:
                reply = await stub.GetSymbols(empty_pb2.Empty(), timeout=contract.timeout)
            except grpc.aio.AioRpcError as err:
                failure = err
        if failure is not None:
            code = failure.code()
            assert code == grpc.StatusCode.UNIMPLEMENTED, (code, failure.details())
            assert contract.lists_symbols is not True, "GetSymbols answered UNIMPLEMENTED"
            return
        assert contract.lists_symbols is not False, "GetSymbols listed symbols"
        symbols = [info.symbol for info in reply.symbols]
        assert len(symbols) == len(set(symbols)), "GetSymbols listed a symbol twice"
        for info in reply.symbols:
            assert info.symbol == info.symbol.strip().upper(), f"{info.symbol!r}: not normalised"
            assert m.serves_symbol(info.symbol), f"{info.symbol!r}: the manifest does not serve it"
            unknown = set(info.intervals) - set(m.intervals)
            assert not unknown, f"{info.symbol!r}: intervals the manifest lacks: {unknown}"
        missing = set(contract.listed_symbols) - set(symbols)
        assert not missing, f"GetSymbols does not list {sorted(missing)}"

    async def test_unknown_symbol_not_found(self, contract: ContractCase) -> None:
        if contract.unknown_symbol is None:
            pytest.skip("no unknown_symbol given")
        interval = contract.tested_intervals()[0]
        async with grpc.aio.insecure_channel(contract.target) as channel:
            stub = pb_grpc.DataProviderStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await fetch_rows(
                    stub,
                    contract.request(interval, symbol=contract.unknown_symbol),
                    contract.timeout,
                )
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


@contextlib.contextmanager
def provider_process(
    provider_dir: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    *,
    start_timeout: float = 30.0,
    stop_timeout: float = 15.0,
) -> Iterator[str]:
    """Run a provider folder as a real process (`python src/main.py`) on an ephemeral port.

    Yields its "host:port" once it reports it is listening; on exit sends SIGTERM and asserts a
    clean exit (code 0) within `stop_timeout`. `env` adds variables such as
    TIMEBASE_PROVIDER_OPTIONS. Use it from a synchronous (e.g. module-scoped) fixture.
    """
    folder = Path(provider_dir)
    full_env = {**os.environ, "TIMEBASE_PROVIDER_PORT": "0", "TIMEBASE_LOG_LEVEL": "WARNING"}
    full_env.update(env or {})
    proc = subprocess.Popen(
        [sys.executable, str(folder / "src" / "main.py")],
        cwd=folder,
        env=full_env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = None
    deadline = time.monotonic() + start_timeout
    while port is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        match = re.match(r"TIMEBASE_PROVIDER_LISTENING port=(\d+)", line)
        port = int(match.group(1)) if match else None
    if port is None:
        proc.kill()
        raise AssertionError(f"{folder.name} did not report its port (exit code {proc.wait()})")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{folder.name} did not stop within {stop_timeout} s") from None
        proc.stdout.close()
        assert code == 0, f"{folder.name} exited with {code} after SIGTERM"
