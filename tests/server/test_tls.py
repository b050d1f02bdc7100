"""TLS on every door (no client certificates): one `timebase serve` for the module, configured
through TIMEBASE_TLS_CERT_FILE / TIMEBASE_TLS_KEY_FILE, reached with the TimeBase client, the CLI,
plain grpcio, plain pyarrow Flight, urllib and aiohttp; a client trusting another CA is refused
on every door."""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pyarrow import flight

from tests.conftest import DatabaseServers
from tests.server.tls_support import Certificates, TlsServe, TlsServes, make_certificates
from timebase.client import Bar, TimeBase, Unavailable
from timebase.v1 import bars_pb2
from timebase.v1 import bars_pb2_grpc as bars_grpc

JANUARY = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=i) for i in range(31)]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls-certs"))


@pytest.fixture(scope="module")
def serves(
    tmp_path_factory: pytest.TempPathFactory,
    database_servers: DatabaseServers,
    certs: Certificates,
) -> Iterator[TlsServes]:
    env = {
        "TIMEBASE_TLS_CERT_FILE": str(certs.server_cert),
        "TIMEBASE_TLS_KEY_FILE": str(certs.server_key),
    }
    root = tmp_path_factory.mktemp("tls-serve").resolve()
    serves = TlsServes(root, database_servers, certs, env=env)
    try:
        yield serves
    finally:
        serves.stop()


@pytest.fixture
def served(serves: TlsServes, backend: str) -> TlsServe:
    """The module's TLS `timebase serve` on the backend of this run."""
    return serves.get(backend)


def _context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def test_serve_prints_tls_endpoints_and_examples(served: TlsServe) -> None:
    text = "\n".join(served.lines)
    assert set(served.ports) == {"gRPC", "Flight", "REST"}, text
    grpc_port, rest_port = served.ports["gRPC"], served.ports["REST"]
    printed = {line.split()[0]: line.split()[1] for line in served.lines[1:4:2]}
    printed.update(dict([served.lines[5].split()]))
    assert printed == {
        "gRPC": f"grpcs://127.0.0.1:{grpc_port}",
        "Flight": f"grpc+tls://127.0.0.1:{served.ports['Flight']}",
        "REST": f"https://127.0.0.1:{rest_port}",
    }
    assert (
        """try: grpcurl -cacert ca.pem -d '{"symbol": "SYN:ACME", "interval": "1d", "limit": 5}' """
        f"127.0.0.1:{grpc_port} timebase.v1.GatewayService/GetBars"
    ) in text
    assert (
        "try: TIMEBASE_TLS_CA_FILE=ca.pem timebase get SYN:ACME -i 1d --start 2024-01-01 "
        "--end 2024-01-31"
    ) in text
    assert (
        f"try: curl -s --cacert ca.pem 'https://127.0.0.1:{rest_port}/api/data/SYN:ACME"
        "?interval=1d&limit=5'"
    ) in text


def test_client_reads_bars_over_flight_and_providers_over_grpc(served: TlsServe) -> None:
    with served.client(tls_ca_file=served.certs.ca) as tb:
        table = tb.history("SYN:ACME", "1d", "2024-01-01", "2024-01-31")
        assert table["timestamp"].to_pylist() == JANUARY
        assert set(table["provider"].to_pylist()) == {"synthetic"}
        assert [p["slug"] for p in tb.providers()] == ["synthetic"]
        assert tb.symbol_providers("SYN:ACME")["candidates"][0]["slug"] == "synthetic"


def test_client_refuses_a_server_certificate_of_another_ca(served: TlsServe) -> None:
    with served.client(tls_ca_file=served.certs.other_ca) as tb:
        with pytest.raises(Unavailable) as flight_err:
            tb.history("SYN:ACME", "1d", "2024-01-01", "2024-01-31")
        with pytest.raises(Unavailable) as grpc_err:
            tb.providers()
    assert flight_err.value.message.startswith(
        f"TLS: the certificate of TimeBase Flight at 127.0.0.1:{served.ports['Flight']} is not "
        "trusted (signed by another CA, or not issued for this host name); pass the CA that "
        "signed it with tls_ca_file (TIMEBASE_TLS_CA_FILE): "
    )
    assert "certificate verify failed" in flight_err.value.message
    assert grpc_err.value.message.startswith(
        f"TLS: the certificate of TimeBase gRPC at {served.grpc_address} is not trusted"
    )
    assert "CERTIFICATE_VERIFY_FAILED" in grpc_err.value.message


def test_plain_grpcio_round_trip_and_wrong_ca(served: TlsServe) -> None:
    credentials = grpc.ssl_channel_credentials(served.certs.ca.read_bytes())
    with grpc.secure_channel(served.grpc_address, credentials) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
        request = bars_pb2.GetBarsRequest(symbol="SYN:ACME", interval="1d", limit=5)
        chunks = list(bars_grpc.GatewayServiceStub(channel).GetBars(request, timeout=30))
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert [(c.symbol, c.provider, len(c.timestamps_us)) for c in chunks] == [
        ("SYN:ACME", "synthetic", 5)
    ]

    wrong = grpc.ssl_channel_credentials(served.certs.other_ca.read_bytes())
    with (
        grpc.secure_channel(served.grpc_address, wrong) as channel,
        pytest.raises(grpc.RpcError) as err,
    ):
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "CERTIFICATE_VERIFY_FAILED" in (err.value.details() or "")

    # A plaintext client gets no answer from the TLS port either.
    with (
        grpc.insecure_channel(served.grpc_address) as channel,
        pytest.raises(grpc.RpcError) as plain,
    ):
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert plain.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plain_pyarrow_flight_round_trip_and_wrong_ca(served: TlsServe) -> None:
    query = {
        "symbols": ["SYN:ACME"],
        "interval": "1d",
        "start": "2024-01-01T00:00:00+00:00",
        "end": "2024-02-01T00:00:00+00:00",
    }
    descriptor = flight.FlightDescriptor.for_command(json.dumps(query))
    options = flight.FlightCallOptions(timeout=30)
    with flight.connect(served.flight_location, tls_root_certs=served.certs.ca.read_bytes()) as c:
        info = c.get_flight_info(descriptor, options)
        tables = [c.do_get(e.ticket, options).read_all() for e in info.endpoints]
    assert [ts for t in tables for ts in t["timestamp"].to_pylist()] == JANUARY

    other = served.certs.other_ca.read_bytes()
    with (
        flight.connect(served.flight_location, tls_root_certs=other) as client,
        pytest.raises(flight.FlightUnavailableError, match="certificate verify failed"),
    ):
        client.get_flight_info(descriptor, options)


def test_rest_over_urllib_and_wrong_ca(served: TlsServe) -> None:
    url = f"{served.rest_url}/api/data/SYN:ACME?interval=1d&limit=5"
    with urllib.request.urlopen(url, context=_context(served.certs.ca), timeout=30) as response:
        body = json.load(response)
    assert response.status == 200
    assert (body["data"]["symbol"], body["data"]["provider"], body["data"]["count"]) == (
        "SYN:ACME",
        "synthetic",
        5,
    )
    with pytest.raises(urllib.error.URLError) as err:
        urllib.request.urlopen(url, context=_context(served.certs.other_ca), timeout=30)
    assert isinstance(err.value.reason, ssl.SSLCertVerificationError)
    assert err.value.reason.verify_message == "unable to get local issuer certificate"


@pytest.fixture(scope="module")
def contexts(certs: Certificates) -> dict[str, ssl.SSLContext]:
    """Built outside the event loop (they read files)."""
    return {"right": _context(certs.ca), "wrong": _context(certs.other_ca)}


async def test_rest_over_aiohttp_and_wrong_ca(
    served: TlsServe, contexts: dict[str, ssl.SSLContext]
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{served.rest_url}/api/health", ssl=contexts["right"]) as resp:
            assert resp.status == 200
            assert (await resp.json())["success"] is True
        with pytest.raises(aiohttp.ClientConnectorCertificateError) as err:
            await http.get(f"{served.rest_url}/api/health", ssl=contexts["wrong"])
    assert isinstance(err.value.certificate_error, ssl.SSLCertVerificationError)


def test_cli_uses_tls_from_the_configuration_and_the_ca_from_the_environment(
    served: TlsServe,
) -> None:
    args = ("get", "SYN:ACME", "-i", "1d", "--start", "2024-01-01", "--end", "2024-01-05")
    result = served.run(*args, TIMEBASE_TLS_CA_FILE=str(served.certs.ca))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("SYN:ACME") == 5

    # Without the CA, the system's CAs do not know the test CA: a clear one-line error.
    untrusted = served.run(*args)
    assert untrusted.returncode == 1
    assert untrusted.stderr.startswith(
        f"timebase: TLS: the certificate of TimeBase Flight at 127.0.0.1:{served.ports['Flight']}"
        " is not trusted"
    )
    assert len(untrusted.stderr.strip().splitlines()) == 1

    missing = served.run(*args, TIMEBASE_TLS_CA_FILE=str(served.cwd / "nope.pem"))
    assert missing.returncode == 2
    assert missing.stderr == (
        f"timebase: tls_ca_file: cannot read {served.cwd / 'nope.pem'}: No such file or directory\n"
    )


@pytest.fixture
def tls_client(served: TlsServe) -> Iterator[TimeBase]:
    """Built outside the event loop (it reads the CA file)."""
    with served.client(tls_ca_file=served.certs.ca) as tb:
        yield tb


async def test_client_streams_real_time_bars_over_tls(tls_client: TimeBase) -> None:
    async def first_bar() -> Bar:
        async for event in tls_client.stream("SYN:ACME", "1m"):
            if isinstance(event, Bar):
                return event
        raise AssertionError("the stream ended")

    bar = await asyncio.wait_for(first_bar(), 30)
    assert (bar.symbol, bar.interval, bar.provider) == ("SYN:ACME", "1m", "synthetic")
