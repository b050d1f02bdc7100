"""Client certificates (mTLS) on every door: one `timebase serve` for the module whose
timebase.yaml sets tls.client_ca_file. A certificate that CA signed is accepted (the TimeBase
client, the CLI, plain grpcio, plain pyarrow Flight, urllib, aiohttp); no certificate, or one
another CA signed, is refused on every door."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pyarrow import flight

from tests.conftest import DatabaseServers
from tests.server.tls_support import Certificates, TlsServe, TlsServes, make_certificates
from timebase.client import Unavailable

QUERY = flight.FlightDescriptor.for_command(
    json.dumps(
        {
            "symbols": ["SYN:ACME"],
            "interval": "1d",
            "start": "2024-01-01T00:00:00+00:00",
            "end": "2024-01-11T00:00:00+00:00",
        }
    )
)
#: What a client sees when the server drops the handshake for want of a (valid) certificate.
REFUSED = (ssl.SSLError, ConnectionError, urllib.error.URLError)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("mtls-certs"))


@pytest.fixture(scope="module")
def serves(
    tmp_path_factory: pytest.TempPathFactory,
    database_servers: DatabaseServers,
    certs: Certificates,
) -> Iterator[TlsServes]:
    root = tmp_path_factory.mktemp("mtls-serve").resolve()
    config = (
        f"tls:\n  cert_file: {certs.server_cert}\n  key_file: {certs.server_key}\n"
        f"  client_ca_file: {certs.client_ca}\n"
    )
    serves = TlsServes(root, database_servers, certs, config=config)
    try:
        yield serves
    finally:
        serves.stop()


@pytest.fixture
def served(serves: TlsServes, backend: str) -> TlsServe:
    """The module's mutual-TLS `timebase serve` on the backend of this run."""
    return serves.get(backend)


def _grpc_health(served: TlsServe, cert: Path | None, key: Path | None) -> int:
    credentials = grpc.ssl_channel_credentials(
        served.certs.ca.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    with grpc.secure_channel(served.grpc_address, credentials) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=10
        )
    return int(reply.status)


def _flight_rows(served: TlsServe, cert: Path | None, key: Path | None) -> int:
    mine = (
        {"cert_chain": cert.read_bytes(), "private_key": key.read_bytes()} if cert and key else {}
    )
    options = flight.FlightCallOptions(timeout=30)
    with flight.connect(
        served.flight_location, tls_root_certs=served.certs.ca.read_bytes(), **mine
    ) as client:
        info = client.get_flight_info(QUERY, options)
        return sum(client.do_get(e.ticket, options).read_all().num_rows for e in info.endpoints)


def _context(certs: Certificates, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if cert and key:
        context.load_cert_chain(cert, key)
    return context


def _rest_status(served: TlsServe, cert: Path | None, key: Path | None) -> int:
    url = f"{served.rest_url}/api/health"
    context = _context(served.certs, cert, key)
    with urllib.request.urlopen(url, context=context, timeout=30) as response:
        return int(response.status)


def test_serve_prints_the_client_certificate_options(served: TlsServe) -> None:
    text = "\n".join(served.lines)
    assert "try: grpcurl -cacert ca.pem -cert client.pem -key client.key -d " in text
    assert "try: curl -s --cacert ca.pem --cert client.pem --key client.key 'https://" in text
    assert (
        "try: TIMEBASE_TLS_CA_FILE=ca.pem TIMEBASE_TLS_CLIENT_CERT_FILE=client.pem "
        "TIMEBASE_TLS_CLIENT_KEY_FILE=client.key timebase get SYN:ACME"
    ) in text


def test_a_client_certificate_of_the_client_ca_is_accepted_on_every_door(
    served: TlsServe,
) -> None:
    certs = served.certs
    assert _grpc_health(served, certs.client_cert, certs.client_key) == (
        health_pb2.HealthCheckResponse.SERVING
    )
    assert _flight_rows(served, certs.client_cert, certs.client_key) == 10
    assert _rest_status(served, certs.client_cert, certs.client_key) == 200
    with served.client(
        tls_ca_file=certs.ca, tls_cert_file=certs.client_cert, tls_key_file=certs.client_key
    ) as tb:
        assert tb.history("SYN:ACME", "1d", "2024-01-01", "2024-01-10").num_rows == 10
        assert [p["slug"] for p in tb.providers()] == ["synthetic"]


@pytest.mark.parametrize("who", ["no certificate", "another CA's certificate"])
def test_a_missing_or_foreign_client_certificate_is_refused_on_every_door(
    served: TlsServe, who: str
) -> None:
    certs = served.certs
    cert, key = (
        (None, None)
        if who == "no certificate"
        else (certs.other_client_cert, certs.other_client_key)
    )
    with pytest.raises(grpc.RpcError) as grpc_err:
        _grpc_health(served, cert, key)
    assert grpc_err.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(flight.FlightUnavailableError):
        _flight_rows(served, cert, key)
    with pytest.raises(REFUSED):
        _rest_status(served, cert, key)
    with served.client(tls_ca_file=certs.ca, tls_cert_file=cert, tls_key_file=key) as tb:
        with pytest.raises(Unavailable, match=r"^cannot reach TimeBase Flight at "):
            tb.history("SYN:ACME", "1d", "2024-01-01", "2024-01-10")
        with pytest.raises(Unavailable, match=r"^cannot reach TimeBase gRPC at "):
            tb.providers()


@pytest.fixture(scope="module")
def contexts(certs: Certificates) -> dict[str, ssl.SSLContext]:
    """Built outside the event loop (they read files)."""
    return {
        "client": _context(certs, certs.client_cert, certs.client_key),
        "none": _context(certs, None, None),
        "foreign": _context(certs, certs.other_client_cert, certs.other_client_key),
    }


async def test_rest_over_aiohttp_with_and_without_a_client_certificate(
    served: TlsServe, contexts: dict[str, ssl.SSLContext]
) -> None:
    url = f"{served.rest_url}/api/data/SYN:ACME?interval=1d&limit=3"
    async with aiohttp.ClientSession() as http:
        async with http.get(url, ssl=contexts["client"]) as resp:
            assert resp.status == 200
            assert (await resp.json())["data"]["count"] == 3
        for refused in ("none", "foreign"):
            with pytest.raises(aiohttp.ClientConnectionError):
                async with http.get(url, ssl=contexts[refused]) as resp:
                    await resp.read()


def test_cli_presents_the_client_certificate_from_the_environment(served: TlsServe) -> None:
    certs = served.certs
    args = ("get", "SYN:ACME", "-i", "1d", "--start", "2024-01-01", "--end", "2024-01-03")
    result = served.run(
        *args,
        TIMEBASE_TLS_CA_FILE=str(certs.ca),
        TIMEBASE_TLS_CLIENT_CERT_FILE=str(certs.client_cert),
        TIMEBASE_TLS_CLIENT_KEY_FILE=str(certs.client_key),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("SYN:ACME") == 3

    refused = served.run(*args, TIMEBASE_TLS_CA_FILE=str(certs.ca))
    assert refused.returncode == 1
    assert refused.stderr.startswith(
        f"timebase: cannot reach TimeBase Flight at 127.0.0.1:{served.ports['Flight']}: "
    )
    assert len(refused.stderr.strip().splitlines()) == 1
