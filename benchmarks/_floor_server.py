"""The latency floors: a bare grpc.aio server answering with pre-built messages, no work at all.

    python _floor_server.py MESSAGES_FILE

MESSAGES_FILE holds length-prefixed serialized messages: first the `timebase.v1.GetBarsResponse`
chunks of the answer, then the 252 `timebase.provider.TimeSeriesData` (see `write_messages`).
`GatewayService.GetBars` yields the chunks, `DataProvider.GetHistoricalData` the per-bar messages.
The bound port is printed on stdout; the server stops when stdin closes.
"""

from __future__ import annotations

import asyncio
import struct
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc


def write_messages(
    path: Path, chunks: list[v1.GetBarsResponse], bars: list[pb.TimeSeriesData]
) -> None:
    with path.open("wb") as f:
        f.write(struct.pack("<II", len(chunks), len(bars)))
        for message in [*chunks, *bars]:
            data = message.SerializeToString()
            f.write(struct.pack("<I", len(data)) + data)


def read_messages(path: Path) -> tuple[list[v1.GetBarsResponse], list[pb.TimeSeriesData]]:
    data = path.read_bytes()
    n_chunks, n_bars = struct.unpack_from("<II", data)
    offset = 8
    raw: list[bytes] = []
    for _ in range(n_chunks + n_bars):
        (size,) = struct.unpack_from("<I", data, offset)
        raw.append(data[offset + 4 : offset + 4 + size])
        offset += 4 + size
    chunks = [v1.GetBarsResponse.FromString(b) for b in raw[:n_chunks]]
    bars = [pb.TimeSeriesData.FromString(b) for b in raw[n_chunks:]]
    return chunks, bars


class _Columnar(v1_grpc.GatewayServiceServicer):
    def __init__(self, chunks: list[v1.GetBarsResponse]) -> None:
        self.chunks = chunks

    async def GetBars(self, request: Any, context: Any) -> AsyncIterator[v1.GetBarsResponse]:
        for chunk in self.chunks:
            yield chunk


class _PerBar(pb_grpc.DataProviderServicer):
    def __init__(self, bars: list[pb.TimeSeriesData]) -> None:
        self.bars = bars

    async def GetHistoricalData(
        self, request: Any, context: Any
    ) -> AsyncIterator[pb.TimeSeriesData]:
        for bar in self.bars:
            yield bar


async def main() -> None:
    chunks, bars = read_messages(Path(sys.argv[1]))
    server = grpc.aio.server()
    v1_grpc.add_GatewayServiceServicer_to_server(_Columnar(chunks), server)  # type: ignore[abstract]
    pb_grpc.add_DataProviderServicer_to_server(_PerBar(bars), server)  # type: ignore[abstract]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop(1)


if __name__ == "__main__":
    asyncio.run(main())
