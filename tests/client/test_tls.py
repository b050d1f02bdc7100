"""`ClientTls` and the TLS arguments of `TimeBase` (round trips: tests/server/test_tls.py)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from tests.server.tls_support import Certificates, make_certificates
from timebase.client import ClientTls, InvalidRequest, TimeBase


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def test_plaintext_unless_asked(certs: Certificates) -> None:
    assert TimeBase().tls is None
    assert TimeBase(tls=True).tls == ClientTls()  # the system's CAs
    tb = TimeBase(tls_ca_file=certs.ca)
    assert tb.tls == ClientTls(root_certificates=certs.ca.read_bytes())


def test_files_are_read_at_once_and_named_when_missing(tmp_path: Path, certs: Certificates):
    tls = ClientTls.from_files(str(certs.ca), certs.client_cert, certs.client_key)
    assert tls.flight_options() == {
        "tls_root_certs": certs.ca.read_bytes(),
        "cert_chain": certs.client_cert.read_bytes(),
        "private_key": certs.client_key.read_bytes(),
    }
    assert ClientTls().flight_options() == {}
    context = tls.ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True

    missing = tmp_path / "missing.pem"
    with pytest.raises(InvalidRequest) as err:
        TimeBase(tls_ca_file=missing)
    assert err.value.message == f"tls_ca_file: cannot read {missing}: No such file or directory"
    assert err.value.code == "INVALID_REQUEST"
    with pytest.raises(InvalidRequest, match=r"^tls_key_file: required with tls_cert_file$"):
        TimeBase(tls_cert_file=certs.client_cert)
    with pytest.raises(InvalidRequest, match=r"^tls_cert_file: required with tls_key_file$"):
        ClientTls.from_files(key_file=certs.client_key)
