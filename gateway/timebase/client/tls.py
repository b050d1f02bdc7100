"""The client side of TimeBase's TLS: which CA to trust, which certificate to present.

    tls = ClientTls.from_files(ca_file="ca.pem")                      # verify the server
    tls = ClientTls.from_files(ca_file="ca.pem", cert_file="me.pem", key_file="me.key")  # mTLS
    tls = ClientTls.from_files()                                      # the system's CAs

    grpc.secure_channel("host:50051", tls.grpc_credentials())
    flight.connect("grpc+tls://host:8815", **tls.flight_options())
    aiohttp.ClientSession().get("https://host:8080/api/health", ssl=tls.ssl_context())
    urllib.request.urlopen("https://host:8080/api/health", context=tls.ssl_context())

`TimeBase(..., tls_ca_file=..., tls_cert_file=..., tls_key_file=...)` builds one and uses it on
gRPC and Flight; `TimeBase.tls.ssl_context()` gives the same settings to an HTTP client for REST.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import grpc

from timebase.client.errors import InvalidRequest

FileLike = str | PathLike[str]


def _read(path: Path, name: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(
            f"{name}: cannot read {path}: {exc.strerror or exc}", "INVALID_REQUEST"
        ) from None


@dataclass(frozen=True)
class ClientTls:
    """A client's TLS settings, the files read once (see the module docstring)."""

    #: PEM CA certificate(s) the server's certificate must chain to; None: the system's CAs.
    root_certificates: bytes | None = None
    #: PEM certificate chain and private key presented to a server that asks for one (mTLS).
    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    #: The files they came from (an `ssl.SSLContext` loads files).
    ca_file: Path | None = field(default=None, compare=False)
    cert_file: Path | None = field(default=None, compare=False)
    key_file: Path | None = field(default=None, compare=False)

    @classmethod
    def from_files(
        cls,
        ca_file: FileLike | None = None,
        cert_file: FileLike | None = None,
        key_file: FileLike | None = None,
    ) -> ClientTls:
        """Read the files now: a missing one is an InvalidRequest naming the argument."""
        if (cert_file is None) != (key_file is None):
            given, missing = (
                ("tls_cert_file", "tls_key_file")
                if cert_file is not None
                else ("tls_key_file", "tls_cert_file")
            )
            raise InvalidRequest(f"{missing}: required with {given}", "INVALID_REQUEST")
        ca = Path(ca_file) if ca_file is not None else None
        cert = Path(cert_file) if cert_file is not None else None
        key = Path(key_file) if key_file is not None else None
        return cls(
            root_certificates=_read(ca, "tls_ca_file") if ca is not None else None,
            certificate_chain=_read(cert, "tls_cert_file") if cert is not None else None,
            private_key=_read(key, "tls_key_file") if key is not None else None,
            ca_file=ca,
            cert_file=cert,
            key_file=key,
        )

    def grpc_credentials(self) -> grpc.ChannelCredentials:
        """For `grpc.secure_channel` / `grpc.aio.secure_channel`."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_certificates,
            private_key=self.private_key,
            certificate_chain=self.certificate_chain,
        )

    def flight_options(self) -> dict[str, Any]:
        """Keyword arguments of `pyarrow.flight.connect` (with a `grpc+tls://` location)."""
        options: dict[str, Any] = {}
        if self.root_certificates is not None:
            options["tls_root_certs"] = self.root_certificates
        if self.certificate_chain is not None and self.private_key is not None:
            options["cert_chain"] = self.certificate_chain
            options["private_key"] = self.private_key
        return options

    def ssl_context(self) -> ssl.SSLContext:
        """For HTTPS clients of the REST door (aiohttp `ssl=`, urllib `context=`). With a
        client certificate it reads its files: then call it off an event loop, or once before."""
        root = self.root_certificates
        context = ssl.create_default_context(cadata=root.decode() if root is not None else None)
        if self.cert_file is not None and self.key_file is not None:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context


__all__ = ["ClientTls"]
