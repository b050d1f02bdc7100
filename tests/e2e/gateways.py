"""Several real `timebase serve` processes on one database, with provider add-ons that log every
fetch they are asked for (one line each, in a file shared by every gateway's copy) and take
their time answering."""

from __future__ import annotations

import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from tests.fuzz.served import Served, serve
from timebase.v1 import bars_pb2, bars_pb2_grpc

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 2, 1, tzinfo=UTC)
DAY = timedelta(days=1)
#: What every symbol's daily closes are over [START, END): the day's index.
CLOSES = [float(k) for k in range((END - START) // DAY)]

MANIFEST = """\
name: {slug}
version: "1.0.0"
slug: {slug}
capabilities: {{historical_data: true}}
intervals: [1d]
symbols: ['{prefix}:[A-Z0-9]+']
{extra}"""

# Daily bars, close = days since 2024-01-01. Each call is logged (symbol, range, pid) before the
# provider waits DELAY seconds and answers.
PROVIDER = """\
import asyncio, os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from timebase.sdk import Bar, Provider, serve

LOG = Path({log!r})
DELAY = {delay}
T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)

class P(Provider):
    async def get_historical_data(self, symbol, interval, start, end, limit):
        line = f"{{symbol}} {{start.isoformat()}} {{end.isoformat()}} {{os.getpid()}}\\n"
        await asyncio.to_thread(_append, line)
        await asyncio.sleep(DELAY)
        ts = T0 + -((T0 - start) // DAY) * DAY
        while ts < end:
            k = float((ts - T0) // DAY)
            yield Bar(ts, k, k + 1, k - 1, k, 10.0)
            ts += DAY

def _append(line):
    with LOG.open("a") as f:
        f.write(line)

if __name__ == "__main__":
    serve(P)
"""

CONFIG = """\
providers:
  bundled_dir: {empty}
  directories: [{providers}]
  process_user: root
  start_timeout_seconds: 30
  stop_timeout_seconds: 5
routing:
  retries: 0
{extra}"""


@dataclass(frozen=True)
class Fetches:
    """The provider calls logged in `path`."""

    path: Path

    def lines(self, symbol: str) -> list[list[str]]:
        if not self.path.exists():
            return []
        rows = [line.split() for line in self.path.read_text().splitlines()]
        return [row for row in rows if row[0] == symbol]

    def wait_for(self, symbol: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.lines(symbol):
            if time.monotonic() > deadline:
                raise AssertionError(f"no fetch of {symbol} within {timeout} s")
            time.sleep(0.05)


def write_provider(
    root: Path, slug: str, prefix: str, log: Path, *, delay: float, extra: str = ""
) -> None:
    folder = root / slug
    (folder / "src").mkdir(parents=True)
    manifest = MANIFEST.format(slug=slug, prefix=prefix, extra=extra)
    (folder / "config.yaml").write_text(manifest)
    source = PROVIDER.format(log=str(log), delay=delay)
    (folder / "src" / "main.py").write_text(textwrap.dedent(source))


def start_gateway(root: Path, url: str, providers: Path, extra: str = "") -> Served:
    (root.parent / "empty").mkdir(exist_ok=True)
    config = CONFIG.format(empty=root.parent / "empty", providers=providers, extra=extra)
    return serve(root, url, config)


def _stamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


Row = tuple[int, float, float, float, float, float]


def get_bars_between(
    target: str, symbol: str, start: datetime, end: datetime, timeout: float = 60.0
) -> list[Row]:
    """(timestamp µs, open, high, low, close, volume) of `symbol`'s daily bars over
    [start, end) from the gateway at `target` (gRPC GetBars)."""
    request = bars_pb2.GetBarsRequest(
        symbol=symbol, interval="1d", start_time=_stamp(start), end_time=_stamp(end)
    )
    with grpc.insecure_channel(target) as channel:
        chunks = list(bars_pb2_grpc.GatewayServiceStub(channel).GetBars(request, timeout=timeout))
    return [
        row
        for c in chunks
        for row in zip(c.timestamps_us, c.open, c.high, c.low, c.close, c.volume, strict=True)
    ]


def get_bars(target: str, symbol: str, timeout: float = 60.0) -> list[tuple[int, float]]:
    """(timestamp µs, close) of `symbol`'s daily bars over [START, END) from the gateway."""
    rows = get_bars_between(target, symbol, START, END, timeout)
    return [(row[0], row[4]) for row in rows]


def expected_bars() -> list[tuple[int, float]]:
    first = int(START.timestamp()) * 1_000_000
    return [(first + k * 86_400_000_000, close) for k, close in enumerate(CLOSES)]
