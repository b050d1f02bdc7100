"""The client commands' TLS options: flags over environment variables, TLS implied by any of
them and by a configuration that serves TLS (round trips: tests/server/test_tls.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from timebase.cli.main import build_parser
from timebase.cli.tls_options import client_tls_options
from timebase.core.config import Config, TlsConfig

PLAIN = {"tls": False, "tls_ca_file": None, "tls_cert_file": None, "tls_key_file": None}


def _options(
    argv: list[str], environ: dict[str, str], config: Config | None = None
) -> dict[str, Any]:
    args = build_parser().parse_args([*argv, "providers"])
    return client_tls_options(args, config or Config(), environ)


def test_plaintext_without_options() -> None:
    assert _options([], {}) == PLAIN
    assert _options([], {"TIMEBASE_TLS": "0", "TIMEBASE_TLS_CA_FILE": ""}) == PLAIN


def test_flags_and_environment_variables() -> None:
    assert _options(["--tls"], {}) == {**PLAIN, "tls": True}
    assert _options([], {"TIMEBASE_TLS": "yes"}) == {**PLAIN, "tls": True}
    environ = {
        "TIMEBASE_TLS_CA_FILE": "env-ca.pem",
        "TIMEBASE_TLS_CLIENT_CERT_FILE": "env.pem",
        "TIMEBASE_TLS_CLIENT_KEY_FILE": "env.key",
    }
    assert _options([], environ) == {
        "tls": True,
        "tls_ca_file": Path("env-ca.pem"),
        "tls_cert_file": Path("env.pem"),
        "tls_key_file": Path("env.key"),
    }
    flags = ["--tls-ca-file", "ca.pem", "--tls-cert-file", "me.pem", "--tls-key-file", "me.key"]
    assert _options(flags, environ) == {  # a flag wins over its variable
        "tls": True,
        "tls_ca_file": Path("ca.pem"),
        "tls_cert_file": Path("me.pem"),
        "tls_key_file": Path("me.key"),
    }
    # The server's own variables are not the client's certificate.
    server_env = {"TIMEBASE_TLS_CERT_FILE": "server.pem", "TIMEBASE_TLS_KEY_FILE": "server.key"}
    assert _options([], server_env) == PLAIN


def test_a_configuration_serving_tls_implies_tls(tmp_path: Path) -> None:
    config = Config(tls=TlsConfig(tmp_path / "server.pem", tmp_path / "server.key"))
    assert _options([], {}, config) == {**PLAIN, "tls": True}
    assert _options([], {"TIMEBASE_TLS_CA_FILE": "ca.pem"}, config) == {
        **PLAIN,
        "tls": True,
        "tls_ca_file": Path("ca.pem"),
    }
