"""The fault suite's tools: a mixed read and ingest load, and provider add-ons written for a test.

`Load` drives a running TimeBase from outside, as clients do: writers send `DoPut` batches over
Flight (each batch its own days, so every acknowledged one can be found again), readers ask REST
and gRPC for the written series. Every outcome is recorded with its start and end time: an
acknowledged batch, a refused one (with the error code and retry hint the client got), or
anything unexpected (which fails the test).
"""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import grpc
import pyarrow as pa
from pyarrow import flight

from timebase.sdk.status import retry_after_from_metadata
from timebase.v1 import bars_pb2, bars_pb2_grpc

#: The first day of the load's series; batch k holds days [k * BATCH, (k + 1) * BATCH).
T0 = datetime(1990, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
BATCH = 5
SYMBOL = "LOAD"
PROVIDER = "fault-load"


@dataclass
class Outcome:
    what: str  # "put", "rest", "grpc"
    started: float
    ended: float
    ok: bool
    code: str = ""
    retry_after: float | None = None
    batch: int | None = None


@dataclass
class Load:
    """Writers and readers against one TimeBase until `stop()` (see the module docstring)."""

    flight_location: str
    rest_url: str
    grpc_target: str
    writers: int = 2
    readers: int = 2
    outcomes: list[Outcome] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    _next_batch: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _first_ack: threading.Event = field(default_factory=threading.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        for _ in range(self.writers):
            self._tasks.append(asyncio.create_task(asyncio.to_thread(self._write_loop)))
        for n in range(self.readers):
            reader = self._rest_loop if n % 2 == 0 else self._grpc_loop
            self._tasks.append(asyncio.create_task(reader()))

    async def stop(self) -> None:
        self._stopping.set()
        self._first_ack.set()
        await asyncio.gather(*self._tasks)

    # -- results ------------------------------------------------------------------------------

    def acknowledged(self) -> list[int]:
        return sorted(
            o.batch for o in self.outcomes if o.what == "put" and o.ok and o.batch is not None
        )

    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def serving_again(self) -> tuple[float, set[str]] | None:
        """When TimeBase served again after its last refusal (the end of the first success
        started after it), and which kinds of requests succeeded since; None: not yet."""
        refused = self.refused()
        if not refused:
            return None
        last = max(o.started for o in refused)
        since = [o for o in self.outcomes if o.ok and o.started > last]
        if not since:
            return None
        return min(o.ended for o in since), {o.what for o in since}

    # -- writers (blocking pyarrow Flight client: each in a thread) ---------------------------

    def _write_loop(self) -> None:
        client = flight.connect(self.flight_location)
        try:
            while not self._stopping.is_set():
                with self._lock:
                    batch, self._next_batch = self._next_batch, self._next_batch + 1
                self._put(client, batch)
        finally:
            client.close()

    def _put(self, client: flight.FlightClient, batch: int) -> None:
        started = time.monotonic()
        options = json.dumps({"provider": PROVIDER, "interval": "1d"})
        table = batch_table(batch)
        try:
            writer, reader = client.do_put(
                flight.FlightDescriptor.for_command(options), table.schema
            )
            writer.write_table(table)
            writer.done_writing()
            reply = reader.read()
            writer.close()
        except flight.FlightUnavailableError as exc:
            info = json.loads(exc.extra_info or b"{}")
            self._record(
                Outcome(
                    "put",
                    started,
                    time.monotonic(),
                    False,
                    info.get("code", ""),
                    info.get("details", {}).get("retry_after"),
                    batch,
                )
            )
            if info.get("code") != "DATABASE_ERROR":
                self.unexpected.append(f"put {batch}: {exc!r} {info}")
            time.sleep(0.05)
            return
        except Exception as exc:
            self.unexpected.append(f"put {batch}: {exc!r}")
            time.sleep(0.05)
            return
        ack = json.loads(reply.to_pybytes()) if reply is not None else {}
        if ack.get("rows_received") != BATCH:
            self.unexpected.append(f"put {batch}: acknowledged {ack}")
        self._record(Outcome("put", started, time.monotonic(), True, batch=batch))
        self._first_ack.set()

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.outcomes.append(outcome)

    # -- readers ------------------------------------------------------------------------------

    async def _first_write(self) -> None:
        """Readers start once the series exists (before, its provider is unknown: 404)."""
        await asyncio.to_thread(self._first_ack.wait, 30)

    async def _rest_loop(self) -> None:
        url = f"{self.rest_url}/api/providers/{PROVIDER}/data/{SYMBOL}"
        params = {"interval": "1d", "start": "1990-01-01", "end": "2000-01-01"}
        await self._first_write()
        async with aiohttp.ClientSession() as session:
            while not self._stopping.is_set():
                started = time.monotonic()
                try:
                    async with session.get(url, params=params) as response:
                        body = await response.json()
                        status, headers = response.status, response.headers
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.unexpected.append(f"rest: {exc!r}")
                    await asyncio.sleep(0.05)
                    continue
                if status == 200:
                    self._record(Outcome("rest", started, time.monotonic(), True))
                elif status == 503 and "Retry-After" in headers:
                    code = body.get("error", {}).get("code", "")
                    retry = float(headers["Retry-After"])
                    self._record(Outcome("rest", started, time.monotonic(), False, code, retry))
                    if code != "DATABASE_ERROR":
                        self.unexpected.append(f"rest: 503 {body}")
                else:
                    self.unexpected.append(f"rest: {status} {dict(headers)} {body}")
                await asyncio.sleep(0.05)

    async def _grpc_loop(self) -> None:
        request = bars_pb2.GetBarsRequest(symbol=SYMBOL, interval="1d", provider=PROVIDER)
        request.start_time.FromDatetime(T0)
        request.end_time.FromDatetime(datetime(2000, 1, 1, tzinfo=UTC))
        await self._first_write()
        async with grpc.aio.insecure_channel(self.grpc_target) as channel:
            stub = bars_pb2_grpc.GatewayServiceStub(channel)
            while not self._stopping.is_set():
                started = time.monotonic()
                try:
                    [chunk async for chunk in stub.GetBars(request, timeout=30)]
                except grpc.aio.AioRpcError as err:
                    retry = retry_after_from_metadata(err.trailing_metadata())
                    self._record(
                        Outcome("grpc", started, time.monotonic(), False, err.code().name, retry)
                    )
                    if err.code() is not grpc.StatusCode.UNAVAILABLE or retry is None:
                        self.unexpected.append(f"grpc: {err.code().name} {err.details()}")
                else:
                    self._record(Outcome("grpc", started, time.monotonic(), True))
                await asyncio.sleep(0.05)


def batch_table(batch: int) -> pa.Table:
    """Batch `batch` of the load: BATCH daily bars of SYMBOL, close = day number."""
    days = [batch * BATCH + i for i in range(BATCH)]
    return pa.table(
        {
            "symbol": [SYMBOL] * BATCH,
            "timestamp": pa.array([T0 + d * DAY for d in days], pa.timestamp("us", tz="UTC")),
            "open": [float(d) for d in days],
            "high": [float(d) + 1 for d in days],
            "low": [float(d) - 1 for d in days],
            "close": [float(d) for d in days],
            "volume": [1000.0] * BATCH,
        }
    )


def stored_days(table: pa.Table) -> set[int]:
    """The day numbers (since T0) of the load's bars in `table`."""
    return {(ts - T0) // DAY for ts in table.column("timestamp").to_pylist()}


def missing_acknowledged(acknowledged: list[int], stored: set[int]) -> list[int]:
    """The acknowledged batches with a day not stored."""
    return [b for b in acknowledged if not {b * BATCH + i for i in range(BATCH)} <= stored]


# -- provider add-ons written by a test ----------------------------------------------------------

MANIFEST = """\
name: {slug}
version: "1.0.0"
slug: {slug}
capabilities: {{historical_data: true}}
intervals: [1h]
symbols: ['FLT:[A-Z0-9]+']
"""

# Hourly bars with close = BASE + hour index since T0; HANG: every call sleeps forever instead
# (after touching a file named after the call, so the test can count the calls it got).
PROVIDER_SOURCE = """\
import asyncio, os, uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from timebase.sdk import Bar, Provider, serve

BASE = {base}
HANG = {hang}

class P(Provider):
    async def get_historical_data(self, symbol, interval, start, end, limit):
        if HANG:
            Path(os.environ["TIMEBASE_PROVIDER_DATA_DIR"], f"call-{{uuid.uuid4().hex}}").touch()
            await asyncio.Event().wait()
        t0 = datetime(2024, 1, 1, tzinfo=UTC)
        ts = t0 + -((t0 - start) // timedelta(hours=1)) * timedelta(hours=1)
        while ts < end:
            k = (ts - t0) // timedelta(hours=1)
            yield Bar(ts, BASE + k, BASE + k + 1, BASE + k - 1, BASE + k, 10.0)
            ts += timedelta(hours=1)

if __name__ == "__main__":
    serve(P)
"""


def write_provider(root: Path, slug: str, *, base: int = 100, hang: bool = False) -> None:
    """A process provider add-on in `root/slug` serving `FLT:*` hourly bars (see above)."""
    folder = root / slug
    (folder / "src").mkdir(parents=True)
    (folder / "config.yaml").write_text(MANIFEST.format(slug=slug))
    source = PROVIDER_SOURCE.format(base=base, hang=hang)
    (folder / "src" / "main.py").write_text(textwrap.dedent(source))
