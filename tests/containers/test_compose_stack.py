"""docker-compose.yml for real: validated by `docker-compose config`, and brought up.

The stack runs with tests/containers/compose.override.yml (the TimescaleDB image, which cannot be
pulled here, swapped for a local stand-in: Debian's PostgreSQL 15 with the TimescaleDB build of
../shared/timescaledb/pg15 preloaded) under a project name of its own, from images built
from the repository's Dockerfiles. From the host: a gRPC, a Flight and a REST query on the
published loopback ports, each asserting the exact ten bars; a door that does not answer fails
the test (never a skip). `down -v` must leave no container, network or volume of the project.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from tests.containers import support
from tests.containers.compose_stack import COMPOSE, OVERRIDE, PORTS, PRODUCTION, Stack, running
from tests.containers.test_gateway import synthetic_bars, wait_serving
from timebase.store.prices import PRICE_SELECT

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]


@pytest.mark.skipif(COMPOSE is None, reason="docker-compose is not installed")
def test_production_compose_file_is_valid() -> None:
    production = Stack((PRODUCTION,), env={"TIMEBASE_DB_PASSWORD": "x"})
    assert "timescale/timescaledb" in production.compose("config").stdout
    production.compose("config", "--quiet")
    services = production.compose("config", "--services").stdout.split()
    assert {"db", "gateway", *support.PROVIDER_SLUGS} == set(services)


def _serving(stack: Stack) -> None:
    asyncio.run(wait_serving(f"127.0.0.1:{PORTS[0]}", within=120))


@pytest.fixture(scope="module")
def stack(
    docker_client: Any,
    provider_images: dict[str, str],
    gateway_image: str,
    postgres_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The compose project, up (the gateway serving gRPC); `down -v` checked afterwards."""
    files = tmp_path_factory.mktemp("files")
    env = {"TIMEBASE_DB_PASSWORD": "s3cret", "TIMEBASE_FILES_DIR": str(files)}
    project = Stack((PRODUCTION, OVERRIDE), support.unique("timebase-test"), env)
    with running(docker_client, project, _serving) as up:
        yield up


@pytest.fixture(scope="module")
def api_key(stack: Stack, docker_client: Any) -> str:
    """A read key, made as the compose file's header says: `timebase keys create` inside the
    gateway container (the database is not published)."""
    gateway = stack.container(docker_client, "gateway")
    code, (out, err) = gateway.exec_run(
        ["timebase", "keys", "create", "--scope", "read", "--name", "compose-test"], demux=True
    )
    assert code == 0, (out, err)
    key: str = out.decode().splitlines()[-1]
    assert key.startswith("tb_")
    return key


def test_the_stack_needs_a_key(stack: Stack) -> None:
    url = f"http://127.0.0.1:{PORTS[2]}/api/providers"
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(url, timeout=30)
    assert raised.value.code == 401
    assert json.load(raised.value)["error"]["code"] == "UNAUTHENTICATED"


DAYS = [f"2024-01-{d:02d}T00:00:00Z" for d in range(1, 11)]


def _grpc_bars(api_key: str) -> list[dict[str, Any]]:
    """The ten daily SYN:ACME bars through the stack's gRPC door, as plain values."""
    bars = asyncio.run(synthetic_bars(f"127.0.0.1:{PORTS[0]}", api_key))
    return [
        {
            "timestamp": b.timestamp.ToDatetime().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "open": b.open,
            "high": b.high,
            "low": b.low,
            "close": b.close,
            "volume": b.volume,
            "provider": b.provider,
        }
        for b in bars
    ]


def test_grpc_query_through_the_stack(api_key: str) -> None:
    bars = asyncio.run(synthetic_bars(f"127.0.0.1:{PORTS[0]}", api_key))
    assert [b.symbol for b in bars] == ["SYN:ACME"] * 10
    assert [b.provider for b in bars] == ["synthetic"] * 10
    assert [r["timestamp"] for r in _grpc_bars(api_key)] == DAYS


def test_flight_query_through_the_stack(api_key: str) -> None:
    """An unreachable Flight door fails the test (FlightUnavailableError), it never skips."""
    from pyarrow import flight

    client = flight.connect(f"grpc://127.0.0.1:{PORTS[1]}")
    try:
        query = {"symbol": "SYN:ACME", "interval": "1d", "start": "2024-01-01", "end": "2024-01-11"}
        options = flight.FlightCallOptions(
            headers=[(b"authorization", f"Bearer {api_key}".encode())]
        )
        descriptor = flight.FlightDescriptor.for_command(json.dumps(query))
        info = client.get_flight_info(descriptor, options)
        table = pa.concat_tables(
            [client.do_get(e.ticket, options).read_all() for e in info.endpoints]
        )
    finally:
        client.close()
    assert info.total_records == 10
    rows = [
        {
            "timestamp": r["timestamp"].strftime("%Y-%m-%dT%H:%M:%SZ"),
            **{k: r[k] for k in ("open", "high", "low", "close", "volume", "provider")},
        }
        for r in table.to_pylist()
    ]
    assert rows == _grpc_bars(api_key)
    assert set(table["symbol"].to_pylist()) == {"SYN:ACME"}


def test_rest_query_through_the_stack(api_key: str) -> None:
    """An unreachable REST door or an error status fails the test, it never skips."""
    url = (
        f"http://127.0.0.1:{PORTS[2]}/api/data/SYN:ACME"
        "?interval=1d&start=2024-01-01T00:00:00Z&end=2024-01-11T00:00:00Z"
    )
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        body = json.load(response)
    data = body["data"]
    assert (data["symbol"], data["interval"], data["count"]) == ("SYN:ACME", "1d", 10)
    assert [bar["timestamp"] for bar in data["data"]] == DAYS
    assert data["data"] == _grpc_bars(api_key)


def test_the_stack_runs_on_timescaledb_and_a_bar_round_trips(
    stack: Stack, docker_client: Any, api_key: str
) -> None:
    """The gateway set TimescaleDB up (hypertables, compression policy) and one bar it fetched
    into the hypertable comes out identically through gRPC, Flight and REST."""
    assert stack.psql(
        docker_client, "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'"
    ) == [["2.28.3"]]
    assert stack.psql(
        docker_client,
        "SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables "
        "ORDER BY 1",
    ) == [["bars_daily", "t"], ["bars_intraday", "t"]]
    assert stack.psql(
        docker_client,
        "SELECT hypertable_name, schedule_interval IS NOT NULL, config->>'compress_after' "
        "FROM timescaledb_information.jobs WHERE proc_name = 'policy_compression' ORDER BY 1",
    ) == [["bars_daily", "t", "7 days"], ["bars_intraday", "t", "7 days"]]

    # One bar: SYN:ACME 1d of 2024-01-10, fetched from synthetic by the gRPC query.
    grpc_bars = asyncio.run(synthetic_bars(f"127.0.0.1:{PORTS[0]}", api_key))
    stamps = [(b.timestamp.ToDatetime(), b) for b in grpc_bars]
    bar = next(b for t, b in stamps if t.isoformat().startswith("2024-01-10"))
    stored = stack.psql(
        docker_client,
        f"SELECT {PRICE_SELECT}, volume, tableoid::regclass::text LIKE '_timescaledb%' "
        "FROM bars_daily WHERE symbol = 'SYN:ACME' AND ts = '2024-01-10T00:00:00Z'",
    )
    assert [([float(x) for x in row[:5]], row[5]) for row in stored] == [
        ([bar.open, bar.high, bar.low, bar.close, bar.volume], "t")
    ]
    from pyarrow import flight

    client = flight.connect(f"grpc://127.0.0.1:{PORTS[1]}")
    try:
        query = {"symbol": "SYN:ACME", "interval": "1d", "start": "2024-01-10", "end": "2024-01-11"}
        options = flight.FlightCallOptions(
            headers=[(b"authorization", f"Bearer {api_key}".encode())]
        )
        info = client.get_flight_info(
            flight.FlightDescriptor.for_command(json.dumps(query)), options
        )
        rows = [
            r
            for e in info.endpoints
            for r in client.do_get(e.ticket, options).read_all().to_pylist()
        ]
    finally:
        client.close()
    assert [(r["open"], r["high"], r["low"], r["close"], r["volume"]) for r in rows] == [
        (bar.open, bar.high, bar.low, bar.close, bar.volume)
    ]
    url = (
        f"http://127.0.0.1:{PORTS[2]}/api/data/SYN:ACME"
        "?interval=1d&start=2024-01-10T00:00:00Z&end=2024-01-11T00:00:00Z"
    )
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {api_key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    assert [
        (b["timestamp"], b["open"], b["high"], b["low"], b["close"], b["volume"])
        for b in body["data"]["data"]
    ] == [("2024-01-10T00:00:00Z", bar.open, bar.high, bar.low, bar.close, bar.volume)]
