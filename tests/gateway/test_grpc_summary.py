"""gRPC `GatewayService/GetSummary` answers what `GET /api/data/{symbol}/summary` answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from tests.gateway.support import RecordingProvider
from tests.rest.conftest import running_rest
from timebase.v1 import bars_pb2 as v1


def _time(message: Any, name: str) -> str | None:
    if not message.HasField(name):
        return None
    stamp: datetime = getattr(message, name).ToDatetime(UTC)
    return stamp.isoformat().replace("+00:00", "Z")


def _as_rest(reply: v1.GetSummaryResponse) -> dict[str, Any]:
    return {
        "symbol": reply.symbol,
        "totalBars": reply.total_bars,
        "earliest": _time(reply, "earliest"),
        "latest": _time(reply, "latest"),
        "providers": list(reply.providers),
        "intervals": list(reply.intervals),
        "series": [
            {
                "interval": s.interval,
                "provider": s.provider,
                "count": s.count,
                "earliest": _time(s, "earliest"),
                "latest": _time(s, "latest"),
                "covered": [
                    {"start": _time(r, "start"), "end": _time(r, "end")} for r in s.covered
                ],
            }
            for s in reply.series
        ],
    }


async def test_get_summary_mirrors_the_rest_summary(fresh_database_url: str) -> None:
    async with running_rest(fresh_database_url, RecordingProvider("alpha")) as rest:
        for query in (
            "interval=1d&start=2024-01-01&end=2024-01-04",
            "interval=1d&start=2024-01-10&end=2024-01-12",
            "interval=1h&start=2024-01-01T00:00&end=2024-01-01T05:00",
        ):
            status, _, _ = await rest.get(f"/api/data/syn:a?{query}")
            assert status == 200
        status, body, _ = await rest.get("/api/data/syn:a/summary")
        assert status == 200
        reply = await rest.gw.v1.GetSummary(v1.GetSummaryRequest(symbol="syn:a"))
        assert _as_rest(reply) == body["data"]
        assert (reply.symbol, reply.total_bars, list(reply.intervals)) == (
            "SYN:A",
            12,
            ["1h", "1d"],
        )
        assert [(s.interval, s.count, len(s.covered)) for s in reply.series] == [
            ("1h", 5, 1),
            ("1d", 7, 2),
        ]

        empty = await rest.gw.v1.GetSummary(v1.GetSummaryRequest(symbol="SYN:NONE"))
        assert (empty.symbol, empty.total_bars, list(empty.series)) == ("SYN:NONE", 0, [])
        assert not empty.HasField("earliest")

        with pytest.raises(grpc.aio.AioRpcError) as info:
            await rest.gw.v1.GetSummary(v1.GetSummaryRequest(symbol="bad symbol"))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = info.value.details() or ""
        assert details.startswith("symbol: 'bad symbol' may contain only letters")
