"""Limits before work on gRPC (issue 12): a huge `limit`, the configurable size limit, and busy
fetches answered UNAVAILABLE with when to retry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from tests.gateway.support import RecordingProvider, request, running_gateway
from tests.rest.test_limits import CancelRecordingProvider
from timebase.core.config import GatewayLimits
from timebase.gateway.query import QueryApi
from timebase.grpc.server import GrpcServer
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk.status import retry_after_from_metadata
from timebase.v1 import bars_pb2 as v1

END = datetime(2024, 1, 1, tzinfo=UTC)


async def test_limit_400000_daily_answers_from_1900(fresh_database_url):
    alpha = RecordingProvider("alpha", intervals=["1d"])
    async with running_gateway(fresh_database_url, alpha) as gw:
        req = request("SYN:A", "1d", None, END, limit=400_000)
        chunks = [c async for c in gw.data.GetHistoricalBars(req)]
        first = datetime(1900, 1, 1, tzinfo=UTC)
        assert sum(len(c.timestamps_us) for c in chunks) == (END - first).days
        assert chunks[0].timestamps_us[0] == int(first.timestamp()) * 1_000_000
        assert [(s, e) for _, _, s, e in alpha.requests] == [(first, END)]


async def test_the_grpc_limit_is_configurable(fresh_database_url):
    alpha = RecordingProvider("alpha", intervals=["1h"])
    async with running_gateway(fresh_database_url, alpha) as gw:
        small = GrpcServer("127.0.0.1", 0, max_bars=24)
        small.attach(QueryApi(gw.history))
        await small.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{small.port}") as channel:
                stub = pb_grpc.DataProviderStub(channel)
                day = datetime(2024, 1, 2, tzinfo=UTC)
                ok = [c async for c in stub.GetHistoricalBars(request("SYN:A", "1h", END, day))]
                assert sum(len(c.timestamps_us) for c in ok) == 24
                later = datetime(2024, 1, 2, 1, tzinfo=UTC)
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await _drain(stub.GetHistoricalBars(request("SYN:A", "1h", END, later)))
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "more than the 24 one gRPC answer may hold (grpc.max_bars)" in str(
                    err.value.details()
                )
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await _drain(
                        stub.GetHistoricalBars(request("SYN:A", "1h", None, END, limit=25))
                    )
                assert str(err.value.details()).startswith("limit: 25 bars, more than the 24 ")
        finally:
            await small.stop(0.1)
        assert len(alpha.requests) == 1


async def test_busy_fetches_are_unavailable_with_retry_after(fresh_database_url):
    alpha = CancelRecordingProvider("alpha", intervals=["1d"])
    alpha.hang_after = 0
    limits = GatewayLimits(max_fetches=1, max_fetches_per_client=4, fetch_queue_timeout_seconds=0.3)
    async with running_gateway(fresh_database_url, alpha, limits=limits) as gw:
        start = datetime(2023, 1, 1, tzinfo=UTC)
        call = gw.data.GetHistoricalBars(request("SYN:A", "1d", start, END))
        first = asyncio.create_task(_drain(call))
        await asyncio.wait_for(alpha.started_streaming.wait(), 10)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await _drain(gw.v1.GetBars(request_v1("SYN:B", start)))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        assert str(err.value.details()).startswith(
            "too many provider fetches: at most 1 at once overall (gateway.max_fetches)"
        )
        trailing: Any = err.value.trailing_metadata()
        metadata = dict(trailing)
        assert metadata["retry-after"] == "1"
        assert retry_after_from_metadata(err.value.trailing_metadata()) == pytest.approx(0.3)
        first.cancel()  # the client cancels: the provider call is cancelled too
        await asyncio.wait_for(alpha.cancelled.wait(), 10)


async def _drain(call: Any) -> list[Any]:
    return [m async for m in call]


def request_v1(symbol: str, start: datetime) -> v1.GetBarsRequest:
    msg = v1.GetBarsRequest(symbol=symbol, interval="1d")
    msg.start_time.FromDatetime(start)
    msg.end_time.FromDatetime(END)
    return msg
