"""Many gateways on one database (on each backend: PostgreSQL and TimescaleDB): real `timebase
serve` processes, real provider processes.

Each missing range is fetched once however many gateways are asked at once (the per-series
lease is held across gateways for the whole fetch, forced to overlap by a provider that takes
its time); provider quotas are shared; a gateway killed mid-request leaves the client free to
retry on another; Flight endpoints are handed to the configured peers, each serving its part.
"""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pyarrow as pa
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pyarrow import flight

from tests.conftest import DatabaseServers, create_database, drop_database
from tests.e2e.gateways import (
    END,
    START,
    Fetches,
    expected_bars,
    get_bars,
    start_gateway,
    write_provider,
)
from tests.fuzz.served import Served
from tests.support.eventually import wait_until
from timebase.client import TimeBase

#: How long the slow provider takes to answer: long enough for every request to overlap.
DELAY = 1.5


@dataclass
class Cluster:
    root: Path
    url: str
    providers: Path
    fetches: Fetches
    gateways: list[Served]


@contextmanager
def running_cluster(root: Path, server: str) -> Iterator[Cluster]:
    """Three gateways on one database of `server`; the third hands Flight endpoints to the
    first two."""
    url = create_database(server, prefix="many")
    providers = root / "providers"
    fetches = Fetches(root / "fetches.log")
    write_provider(providers, "slow", "MG", fetches.path, delay=DELAY)
    limits = "rate_limits: {requests_per_day: 3}\n"
    write_provider(providers, "limited", "LQ", fetches.path, delay=0.0, extra=limits)
    gateways: list[Served] = []
    try:
        for name in ("g1", "g2"):
            gateways.append(start_gateway(root / name, url, providers))
        peers = ", ".join(g.flight_location for g in gateways)
        gateways.append(
            start_gateway(root / "g3", url, providers, extra=f"flight:\n  peers: [{peers}]\n")
        )
        yield Cluster(root, url, providers, fetches, gateways)
    finally:
        for gateway in gateways:
            gateway.stop()
        for gateway in gateways:
            assert gateway.tracebacks() == [], gateway.log.read_text()[-4000:]
        drop_database(server, url)


@pytest.fixture(scope="module")
def clusters(
    tmp_path_factory: pytest.TempPathFactory, database_servers: DatabaseServers
) -> Iterator[Callable[[str], Cluster]]:
    """The module's cluster per database backend, started on first use."""
    root = tmp_path_factory.mktemp("many").resolve()
    started: dict[str, Cluster] = {}
    with ExitStack() as stack:

        def get(backend: str) -> Cluster:
            if backend not in started:
                server = database_servers.url(backend)
                started[backend] = stack.enter_context(running_cluster(root / backend, server))
            return started[backend]

        yield get


@pytest.fixture
def cluster(clusters: Callable[[str], Cluster], backend: str) -> Cluster:
    """The module's cluster on the backend of this run: every test runs on both backends."""
    return clusters(backend)


def test_each_missing_range_is_fetched_once_by_all_gateways_together(cluster: Cluster) -> None:
    symbols = ["MG:A", "MG:B", "MG:C"]
    asks = [(g.grpc_target, s) for s in symbols for g in cluster.gateways for _ in range(2)]

    def ask(target_symbol: tuple[str, str]) -> tuple[list[tuple[int, float]], float, float]:
        sent = time.monotonic()
        bars = get_bars(*target_symbol)
        return bars, sent, time.monotonic()

    with ThreadPoolExecutor(len(asks)) as pool:
        answers = list(pool.map(ask, asks))
    # The requests of each symbol overlapped (every one was sent before any was answered, the
    # slow provider holding its one fetch open), whatever the machine's load.
    for symbol in symbols:
        mine = [a for (_, s), a in zip(asks, answers, strict=True) if s == symbol]
        assert max(sent for _, sent, _ in mine) < min(done for _, _, done in mine)
    assert all(bars == expected_bars() for bars, _, _ in answers)
    for symbol in symbols:
        (fetch,) = cluster.fetches.lines(symbol)
        assert fetch[1:3] == [START.isoformat(), END.isoformat()]
    # Asked again anywhere: served from the store, nothing fetched.
    assert get_bars(cluster.gateways[1].grpc_target, "MG:A") == expected_bars()
    assert len(cluster.fetches.lines("MG:A")) == 1


def test_provider_quotas_are_shared_by_the_gateways(cluster: Cluster) -> None:
    first, second, third = cluster.gateways
    # `limited` allows 3 requests a day in all: two through one gateway, one through another.
    assert get_bars(first.grpc_target, "LQ:A") == expected_bars()
    assert get_bars(first.grpc_target, "LQ:B") == expected_bars()
    assert get_bars(second.grpc_target, "LQ:C") == expected_bars()
    # The third gateway has not sent any itself, but the quota is used up.
    with pytest.raises(grpc.RpcError) as caught:
        get_bars(third.grpc_target, "LQ:D")
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "daily quota of 3 requests used up" in (caught.value.details() or "")
    assert cluster.fetches.lines("LQ:D") == []
    assert [len(cluster.fetches.lines(s)) for s in ("LQ:A", "LQ:B", "LQ:C")] == [1, 1, 1]


def test_a_gateway_killed_mid_request_leaves_the_client_free_to_retry_on_another(
    cluster: Cluster,
) -> None:
    victim = start_gateway(cluster.root / "victim", cluster.url, cluster.providers)
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(get_bars, victim.grpc_target, "MG:KILL")
            cluster.fetches.wait_for("MG:KILL")  # it holds the lease and is fetching
            victim.proc.send_signal(signal.SIGKILL)
            with pytest.raises(grpc.RpcError) as caught:
                pending.result(timeout=30)
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        assert victim.proc.wait(timeout=10) == -signal.SIGKILL
        # Another gateway answers the retry in full: the dead one's lease went with its session.
        assert get_bars(cluster.gateways[0].grpc_target, "MG:KILL", timeout=30) == expected_bars()
    finally:
        victim.stop()
    fetched = cluster.fetches.lines("MG:KILL")
    assert len(fetched) == 2  # the killed gateway's fetch never finished: asked again once
    assert fetched[0][3] != fetched[1][3]  # by two provider processes, one per gateway


def _doget_count(gateway: Served) -> float:
    with urllib.request.urlopen(f"{gateway.rest_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    pattern = re.compile(r"^timebase_requests_total\{([^}]*)\} (\S+)$", re.M)
    return sum(
        float(value)
        for labels, value in pattern.findall(text)
        if 'door="flight"' in labels and 'route="DO_GET"' in labels
    )


def test_flight_endpoints_are_read_in_parallel_from_the_configured_peers(
    cluster: Cluster,
) -> None:
    first, second, planner = cluster.gateways
    symbols = ["MG:F1", "MG:F2", "MG:F3", "MG:F4"]
    query = {"symbols": symbols, "interval": "1d", "start": "2024-01-01", "end": "2024-02-01"}
    descriptor = flight.FlightDescriptor.for_command(json.dumps(query))
    with flight.FlightClient(planner.flight_location) as client:
        info = client.get_flight_info(descriptor)
    locations = [[loc.uri.decode() for loc in e.locations] for e in info.endpoints]
    peers = [first.flight_location, second.flight_location]
    assert locations == [[peers[0]], [peers[1]], [peers[0]], [peers[1]]]
    before = [_doget_count(g) for g in (first, second)]

    def read(endpoint: flight.FlightEndpoint) -> pa.Table:
        with flight.FlightClient(endpoint.locations[0]) as client:
            return client.do_get(endpoint.ticket).read_all()

    with ThreadPoolExecutor(len(info.endpoints)) as pool:
        tables = list(pool.map(read, info.endpoints))
    # Each peer served two of them (counted when the stream ends on its side).
    wait_until(
        lambda: (
            [_doget_count(g) - b for g, b in zip((first, second), before, strict=True)] == [2, 2]
        ),
        within=10,
    )
    for table in tables:
        closes = table.column("close").to_pylist()
        assert closes == [close for _, close in expected_bars()]
    # The same tickets read from the planner itself give the same bars.
    with flight.FlightClient(planner.flight_location) as client:
        here = [client.do_get(e.ticket).read_all() for e in info.endpoints]
    assert [t.equals(h) for t, h in zip(tables, here, strict=True)] == [True] * 4


def test_the_python_client_reads_each_endpoint_from_its_peer(cluster: Cluster) -> None:
    first, second, planner = cluster.gateways
    before = [_doget_count(g) for g in (first, second, planner)]
    with TimeBase("127.0.0.1", planner.grpc_port, planner.flight_port) as client:
        table = client.history(["MG:P1", "MG:P2"], "1d", START, END)
    assert table.column("symbol").to_pylist() == ["MG:P1"] * 31 + ["MG:P2"] * 31
    assert table.column("close").to_pylist() == [c for _, c in expected_bars()] * 2
    wait_until(
        lambda: (
            [_doget_count(g) - b for g, b in zip((first, second, planner), before, strict=True)]
            == [1, 1, 0]
        ),
        within=10,
    )


def _hot_reads(gateway: Served) -> dict[str, float]:
    """The gateway's `timebase_hot_tier_reads_total` by result."""
    with urllib.request.urlopen(f"{gateway.rest_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    pattern = re.compile(r'^timebase_hot_tier_reads_total\{result="(\w+)"\} (\S+)$', re.M)
    return {result: float(value) for result, value in pattern.findall(text)}


def _flight_read(gateway: Served, query: Mapping[str, object]) -> pa.Table:
    descriptor = flight.FlightDescriptor.for_command(json.dumps(query))
    with flight.FlightClient(gateway.flight_location) as client:
        info = client.get_flight_info(descriptor)
        tables = [client.do_get(e.ticket).read_all() for e in info.endpoints]
    return pa.concat_tables(tables)


def _rest_closes(gateway: Served, symbol: str) -> list[float]:
    query = "interval=1d&start=2024-01-01T00:00:00Z&end=2024-02-01T00:00:00Z"
    url = f"{gateway.rest_url}/api/data/{symbol}?{query}"
    with urllib.request.urlopen(url, timeout=30) as response:
        body = json.load(response)
    return [float(bar["close"]) for bar in body["data"]["data"]]


def test_a_write_through_one_gateway_is_read_at_once_through_another(cluster: Cluster) -> None:
    """The hot tier and the cached answers of one gateway are invalidated by a write another
    gateway made (a Flight DoPut over the provider's bars): every door of the first then reads
    the written bars, and the stale segment is counted, not served."""
    reader, writer, _ = cluster.gateways
    symbol = "MG:HOT"
    query: dict[str, object] = {
        "symbol": symbol,
        "interval": "1d",
        "start": "2024-01-01",
        "end": "2024-02-01",
    }
    cached = {**query, "cached_only": True}
    closes = [close for _, close in expected_bars()]
    # Fetched and stored through the reader, then served from its hot tier.
    first = _flight_read(reader, query)
    assert first.column("close").to_pylist() == closes
    before = _hot_reads(reader)
    assert _flight_read(reader, cached).equals(first)
    assert _hot_reads(reader)["hit"] == before["hit"] + 1
    assert get_bars(reader.grpc_target, symbol) == expected_bars()
    assert _rest_closes(reader, symbol) == closes

    # Another gateway overrides the stored closes.
    changed = first.set_column(
        first.schema.get_field_index("close"), "close", pa.array([c + 0.5 for c in closes])
    )
    changed = changed.drop_columns(
        [n for n in ("interval", "provider", "metadata") if n in changed.column_names]
    )
    options = {"provider": "slow", "interval": "1d", "override_provider": True}
    descriptor = flight.FlightDescriptor.for_command(json.dumps(options))
    with flight.FlightClient(writer.flight_location) as client:
        put, meta = client.do_put(descriptor, changed.schema)
        put.write_table(changed)
        put.done_writing()
        meta.read()
        put.close()

    # The reader's next reads, through every door, are the written bars.
    stale = _hot_reads(reader)["stale"]
    after = _flight_read(reader, cached)
    assert after.column("close").to_pylist() == [c + 0.5 for c in closes]
    assert _hot_reads(reader)["stale"] == stale + 1
    assert get_bars(reader.grpc_target, symbol) == [(t, c + 0.5) for t, c in expected_bars()]
    assert _rest_closes(reader, symbol) == [c + 0.5 for c in closes]
    assert len(cluster.fetches.lines(symbol)) == 1  # nothing fetched again


Labels = tuple[tuple[str, str], ...]


def _request_samples(gateway: Served) -> dict[tuple[str, Labels], float]:
    """`timebase_requests_total` and `timebase_request_duration_seconds_count` on a gateway's
    /metrics: (name, sorted labels) → value."""
    with urllib.request.urlopen(f"{gateway.rest_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    names = {"timebase_requests_total", "timebase_request_duration_seconds_count"}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in names
    }


def _labels(**labels: str) -> Labels:
    return tuple(sorted(labels.items()))


def test_every_door_counts_and_times_its_requests(cluster: Cluster) -> None:
    """One request through each door: counted by door, route, method and status, and timed by
    door, route and method, on the gateway's live /metrics."""
    gateway = cluster.gateways[1]
    assert get_bars(gateway.grpc_target, "MG:DOORS") == expected_bars()  # gRPC (fetched if new)
    query = {"symbol": "MG:DOORS", "interval": "1d", "start": "2024-01-01", "end": "2024-02-01"}
    before = _request_samples(gateway)
    assert get_bars(gateway.grpc_target, "MG:DOORS") == expected_bars()
    _flight_read(gateway, query)
    assert len(_rest_closes(gateway, "MG:DOORS")) == len(expected_bars())
    grpc_route = {"door": "grpc", "route": "/timebase.v1.GatewayService/GetBars", "method": "RPC"}
    rest_route = {"door": "rest", "route": "/api/data/{symbol}", "method": "GET"}
    flight_call = {"door": "flight", "method": "RPC", "status": "OK"}
    count, timed = "timebase_requests_total", "timebase_request_duration_seconds_count"
    expected = {
        (count, _labels(**grpc_route, status="OK")): 1.0,
        (timed, _labels(**grpc_route)): 1.0,
        (count, _labels(**flight_call, route="GET_FLIGHT_INFO")): 1.0,
        (count, _labels(**flight_call, route="DO_GET")): 1.0,
        (count, _labels(**rest_route, status="200")): 1.0,
        (timed, _labels(**rest_route)): 1.0,
    }

    def grown() -> dict[tuple[str, Labels], float]:
        after = _request_samples(gateway)
        return {key: after.get(key, 0.0) - before.get(key, 0.0) for key in expected}

    # (A DoGet is counted when its stream ends on the server's side.)
    wait_until(lambda: grown() == expected, within=10)
