"""The client commands' TLS options: flags, each with an environment variable.

    --tls                 TIMEBASE_TLS                   connect over TLS (the system's CAs)
    --tls-ca-file FILE    TIMEBASE_TLS_CA_FILE           the CA that signed the server's certificate
    --tls-cert-file FILE  TIMEBASE_TLS_CLIENT_CERT_FILE  a client certificate (mTLS) ...
    --tls-key-file FILE   TIMEBASE_TLS_CLIENT_KEY_FILE   ... and its private key

A flag wins over its variable. TLS is on when any of them is given, or when the configuration the
command reads (the same as `timebase serve`'s) turns TLS on for the server (`tls.cert_file`).
The client variables are not the server's `TIMEBASE_TLS_CERT_FILE` / `TIMEBASE_TLS_KEY_FILE`:
one shell may set both.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from timebase.core.config import Config
from timebase.sdk.conventions import parse_bool

ENV_TLS = "TIMEBASE_TLS"
ENV_CA_FILE = "TIMEBASE_TLS_CA_FILE"
ENV_CERT_FILE = "TIMEBASE_TLS_CLIENT_CERT_FILE"
ENV_KEY_FILE = "TIMEBASE_TLS_CLIENT_KEY_FILE"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("TLS (client commands)")
    group.add_argument(
        "--tls",
        action="store_true",
        help=f"connect over TLS, trusting the system's CAs ({ENV_TLS}=1); implied by the "
        "options below and by a configured tls.cert_file",
    )
    group.add_argument(
        "--tls-ca-file",
        type=Path,
        metavar="FILE",
        help=f"PEM CA that signed the server's certificate ({ENV_CA_FILE})",
    )
    group.add_argument(
        "--tls-cert-file",
        type=Path,
        metavar="FILE",
        help=f"PEM client certificate, for a server that requires one ({ENV_CERT_FILE})",
    )
    group.add_argument(
        "--tls-key-file",
        type=Path,
        metavar="FILE",
        help=f"PEM private key of --tls-cert-file ({ENV_KEY_FILE})",
    )


def client_tls_options(
    args: argparse.Namespace, config: Config, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The TLS keyword arguments of `timebase.client.TimeBase` for this command."""
    env = os.environ if environ is None else environ

    def file(flag: Path | None, var: str) -> Path | None:
        return flag if flag is not None else (Path(env[var]) if env.get(var) else None)

    ca_file = file(args.tls_ca_file, ENV_CA_FILE)
    cert_file = file(args.tls_cert_file, ENV_CERT_FILE)
    key_file = file(args.tls_key_file, ENV_KEY_FILE)
    tls = bool(args.tls) or bool(parse_bool(env.get(ENV_TLS, ""))) or config.tls.enabled
    return {
        "tls": tls or any(f is not None for f in (ca_file, cert_file, key_file)),
        "tls_ca_file": ca_file,
        "tls_cert_file": cert_file,
        "tls_key_file": key_file,
    }
