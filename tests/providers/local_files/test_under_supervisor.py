"""local-files run by the supervisor with no options: it serves the provider's data folder."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import grpc

from timebase.core.config import Config, ProvidersConfig
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk.wire import to_timestamp_pb
from timebase.supervisor import Supervisor

CSV = "Date,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,10,12,9,11,10.5,1000\n"


async def test_serves_files_dropped_into_its_data_folder(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = Config(
        data_dir=data_dir, providers=ProvidersConfig(enabled=("local-files",), process_user="root")
    )
    supervisor = Supervisor(config)
    await supervisor.start()
    try:
        state = supervisor.get("local-files")
        assert state.ready, state.last_error
        folder = data_dir / "providers" / "local-files"
        assert await asyncio.to_thread(folder.is_dir)
        await asyncio.to_thread((folder / "ACME.csv").write_text, CSV)
        request = pb.HistoricalDataRequest(
            symbol="acme",
            interval="1d",
            start_time=to_timestamp_pb(datetime(2024, 1, 1, tzinfo=UTC)),
            end_time=to_timestamp_pb(datetime(2024, 1, 3, tzinfo=UTC)),
        )
        assert state.address is not None
        async with grpc.aio.insecure_channel(state.address) as channel:
            bars = [b async for b in pb_grpc.DataProviderStub(channel).GetHistoricalData(request)]
    finally:
        await supervisor.stop()
    assert [(b.timestamp.ToJsonString(), b.open, b.close, b.volume) for b in bars] == [
        ("2024-01-02T00:00:00Z", 10.0, 11.0, 1000.0)
    ]
    assert dict(bars[0].metadata) == {"adj_close": "10.5"}
