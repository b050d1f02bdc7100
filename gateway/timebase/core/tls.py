"""TLS of the doors (the `tls` section): the server's certificate chain, key and client CA.

    tls = load_server_tls(config.tls)     # None when TLS is off; blocking (reads the files)
    grpc_server.add_secure_port(address, tls.grpc_credentials())
    web.TCPSite(runner, host, port, ssl_context=tls.ssl_context)

gRPC and Arrow Flight (gRPC underneath) take the PEM bytes; REST (aiohttp) takes an
`ssl.SSLContext`. With a client CA, every door requires a client certificate that CA signed.
The configuration loader checks the files with `server_ssl_context` so that a bad file stops
`timebase serve` at load with the key named, not at the first connection.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc

    from timebase.core.config import TlsConfig


class TlsFileError(Exception):
    """A TLS file that does not hold what its key says: `key` (e.g. `key_file`) and `reason`."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"tls.{key}: {reason}")
        self.key = key
        self.reason = reason


def _why(exc: ssl.SSLError) -> str:
    # OpenSSL's reason code when it gives one; "PEM lib" (no reason) means nothing PEM was found.
    return str(exc.reason) if exc.reason else "no PEM data found"


def _encrypted_key() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal for the passphrase.
    raise ValueError("encrypted")


def server_ssl_context(
    cert_file: Path, key_file: Path, client_ca_file: Path | None
) -> ssl.SSLContext:
    """The server side `SSLContext` of these files (TLS 1.2 or later; client certificates
    required when `client_ca_file` is given). Raises TlsFileError naming the file's key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        # Parses the certificates alone first: a broken certificate is named as such.
        ssl.create_default_context(cafile=str(cert_file))
    except ssl.SSLError as exc:
        raise TlsFileError(
            "cert_file", f"not a PEM certificate: {cert_file} ({_why(exc)})"
        ) from None
    try:
        context.load_cert_chain(cert_file, key_file, password=_encrypted_key)
    except ValueError:
        raise TlsFileError(
            "key_file", f"the private key is encrypted (TimeBase needs it unencrypted): {key_file}"
        ) from None
    except ssl.SSLError as exc:
        raise TlsFileError(
            "key_file", f"not the PEM private key of tls.cert_file: {key_file} ({_why(exc)})"
        ) from None
    if client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(client_ca_file))
        except ssl.SSLError as exc:
            raise TlsFileError(
                "client_ca_file", f"not a PEM certificate: {client_ca_file} ({_why(exc)})"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@dataclass(frozen=True)
class ServerTls:
    """What each door needs to serve TLS, read once from the files."""

    #: PEM certificate chain and private key of the server.
    certificate_chain: bytes
    private_key: bytes
    #: PEM CA certificate(s) of the clients; None: no client certificate asked for.
    client_ca: bytes | None
    #: The same, for REST (aiohttp).
    ssl_context: ssl.SSLContext

    @property
    def client_auth(self) -> bool:
        """Whether clients must present a certificate signed by `client_ca`."""
        return self.client_ca is not None

    def grpc_credentials(self) -> grpc.ServerCredentials:
        import grpc

        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_auth,
        )


def load_server_tls(config: TlsConfig) -> ServerTls | None:
    """The doors' TLS of `config` (None when it is off). Blocking: run it off the event loop."""
    if config.cert_file is None or config.key_file is None:
        return None
    context = server_ssl_context(config.cert_file, config.key_file, config.client_ca_file)
    return ServerTls(
        certificate_chain=config.cert_file.read_bytes(),
        private_key=config.key_file.read_bytes(),
        client_ca=config.client_ca_file.read_bytes() if config.client_ca_file else None,
        ssl_context=context,
    )


__all__ = ["ServerTls", "TlsFileError", "load_server_tls", "server_ssl_context"]
