"""The `tls` section: checked at load (both files or neither, readable, what they should hold),
errors naming the file or variable and the key; and what the doors get from it."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from tests.server.tls_support import Certificates, make_certificates
from timebase.core.config import TlsConfig, load_config
from timebase.core.tls import load_server_tls
from timebase.sdk.errors import ConfigError


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def _yaml(tmp_path: Path, **tls: Path | str) -> Path:
    path = tmp_path / "timebase.yaml"
    path.write_text("tls:\n" + "".join(f"  {k}: {v}\n" for k, v in tls.items()))
    return path


def _error(path: Path | None = None, **environ: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(path, environ=environ)
    assert err.value.code == "CONFIG_ERROR"
    return err.value.message


def test_off_by_default_and_on_with_both_files(tmp_path: Path, certs: Certificates) -> None:
    assert load_config(environ={}).tls == TlsConfig()
    assert not TlsConfig().enabled
    assert load_server_tls(TlsConfig()) is None

    config = load_config(
        _yaml(tmp_path, cert_file=certs.server_cert, key_file=certs.server_key), environ={}
    )
    assert config.tls == TlsConfig(certs.server_cert, certs.server_key, None)
    assert config.tls.enabled
    tls = load_server_tls(config.tls)
    assert tls is not None
    assert tls.certificate_chain == certs.server_cert.read_bytes()
    assert tls.private_key == certs.server_key.read_bytes()
    assert (tls.client_ca, tls.client_auth) == (None, False)
    assert tls.ssl_context.verify_mode == ssl.CERT_NONE
    assert tls.ssl_context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_environment_variables_and_the_client_ca(certs: Certificates) -> None:
    config = load_config(
        environ={
            "TIMEBASE_TLS_CERT_FILE": str(certs.server_cert),
            "TIMEBASE_TLS_KEY_FILE": str(certs.server_key),
            "TIMEBASE_TLS_CLIENT_CA_FILE": str(certs.client_ca),
        }
    )
    assert config.tls == TlsConfig(certs.server_cert, certs.server_key, certs.client_ca)
    tls = load_server_tls(config.tls)
    assert tls is not None
    assert (tls.client_ca, tls.client_auth) == (certs.client_ca.read_bytes(), True)
    assert tls.ssl_context.verify_mode == ssl.CERT_REQUIRED


def test_cert_and_key_both_or_neither(tmp_path: Path, certs: Certificates) -> None:
    path = _yaml(tmp_path, cert_file=certs.server_cert)
    assert _error(path) == f"{path}: tls.key_file: required when tls.cert_file is set"
    assert _error(TIMEBASE_TLS_KEY_FILE=str(certs.server_key)) == (
        "TIMEBASE_TLS_KEY_FILE: tls.cert_file: required when tls.key_file is set"
    )
    path = _yaml(tmp_path, client_ca_file=certs.client_ca)
    assert _error(path) == f"{path}: tls.cert_file: required when tls.client_ca_file is set"
    # The environment completes what the file started.
    path = _yaml(tmp_path, cert_file=certs.server_cert)
    config = load_config(path, environ={"TIMEBASE_TLS_KEY_FILE": str(certs.server_key)})
    assert config.tls.enabled


def test_files_must_exist_and_be_files(tmp_path: Path, certs: Certificates) -> None:
    missing = tmp_path / "missing.pem"
    path = _yaml(tmp_path, cert_file=missing, key_file=certs.server_key)
    assert _error(path) == f"{path}: tls.cert_file: no such file: {missing}"
    assert _error(
        TIMEBASE_TLS_CERT_FILE=str(certs.server_cert), TIMEBASE_TLS_KEY_FILE=str(tmp_path)
    ) == (f"TIMEBASE_TLS_KEY_FILE: tls.key_file: not a file: {tmp_path}")
    path = _yaml(
        tmp_path, cert_file=certs.server_cert, key_file=certs.server_key, client_ca_file=missing
    )
    assert _error(path) == f"{path}: tls.client_ca_file: no such file: {missing}"
    path = tmp_path / "timebase.yaml"
    path.write_text("tls:\n  cert_file: 5\n")
    assert _error(path) == f"{path}: tls.cert_file: expected a non-empty string, got 5"


def test_files_must_hold_a_certificate_and_its_key(tmp_path: Path, certs: Certificates) -> None:
    path = _yaml(tmp_path, cert_file=certs.server_key, key_file=certs.server_key)
    assert _error(path) == (
        f"{path}: tls.cert_file: not a PEM certificate: {certs.server_key} "
        "(NO_CERTIFICATE_OR_CRL_FOUND)"
    )
    path = _yaml(tmp_path, cert_file=certs.server_cert, key_file=certs.client_key)
    assert _error(path) == (
        f"{path}: tls.key_file: not the PEM private key of tls.cert_file: {certs.client_key} "
        "(KEY_VALUES_MISMATCH)"
    )
    junk = tmp_path / "junk.pem"
    junk.write_text("not PEM\n")
    path = _yaml(tmp_path, cert_file=certs.server_cert, key_file=junk)
    assert _error(path) == (
        f"{path}: tls.key_file: not the PEM private key of tls.cert_file: {junk} "
        "(no PEM data found)"
    )
    path = _yaml(
        tmp_path, cert_file=certs.server_cert, key_file=certs.server_key, client_ca_file=junk
    )
    assert _error(path) == (
        f"{path}: tls.client_ca_file: not a PEM certificate: {junk} (NO_CERTIFICATE_OR_CRL_FOUND)"
    )


def test_an_encrypted_key_is_refused_without_prompting(tmp_path: Path) -> None:
    issued = trustme.CA().issue_cert("localhost")
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    cert.write_bytes(issued.cert_chain_pems[0].bytes())
    private = serialization.load_pem_private_key(issued.private_key_pem.bytes(), password=None)
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    path = _yaml(tmp_path, cert_file=cert, key_file=key)
    assert _error(path) == (
        f"{path}: tls.key_file: the private key is encrypted (TimeBase needs it unencrypted): {key}"
    )
