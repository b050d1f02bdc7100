"""TLS test support: certificates made at test time (trustme) and a TLS `timebase serve`.

One throwaway CA signs the server's certificate (for 127.0.0.1 and localhost), another the
clients' certificates, and a third signs nothing the servers trust (the "wrong CA").
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trustme

from tests.cli.serve_support import TIMEBASE, start_serve
from tests.conftest import DatabaseServers, create_database
from timebase.client import TimeBase


@dataclass(frozen=True)
class Certificates:
    ca: Path  # signed the server's certificate
    server_cert: Path
    server_key: Path
    client_ca: Path  # signed the client certificate
    client_cert: Path
    client_key: Path
    other_ca: Path  # signed neither: trusted by no server, and trusting no server
    other_client_cert: Path  # signed by other_ca
    other_client_key: Path


def make_certificates(folder: Path) -> Certificates:
    """Write a fresh set of CAs, certificates and keys (PEM) into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, client_ca, other_ca = trustme.CA(), trustme.CA(), trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = client_ca.issue_cert("alice@example.com")
    stranger = other_ca.issue_cert("mallory@example.com")

    def write(name: str, *blobs: trustme.Blob) -> Path:
        path = folder / name
        path.write_bytes(b"".join(blob.bytes() for blob in blobs))
        return path

    return Certificates(
        ca=write("ca.pem", ca.cert_pem),
        server_cert=write("server.pem", *server.cert_chain_pems),
        server_key=write("server.key", server.private_key_pem),
        client_ca=write("client-ca.pem", client_ca.cert_pem),
        client_cert=write("client.pem", *client.cert_chain_pems),
        client_key=write("client.key", client.private_key_pem),
        other_ca=write("other-ca.pem", other_ca.cert_pem),
        other_client_cert=write("other-client.pem", *stranger.cert_chain_pems),
        other_client_key=write("other-client.key", stranger.private_key_pem),
    )


@dataclass
class TlsServe:
    """A running `timebase serve` with TLS on, and the ports it printed."""

    proc: subprocess.Popen[str]
    lines: list[str]
    env: dict[str, str]
    cwd: Path
    certs: Certificates
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.ports['gRPC']}"

    @property
    def flight_location(self) -> str:
        return f"grpc+tls://127.0.0.1:{self.ports['Flight']}"

    @property
    def rest_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['REST']}"

    def client(self, **tls: Any) -> TimeBase:
        return TimeBase(
            "127.0.0.1", grpc_port=self.ports["gRPC"], flight_port=self.ports["Flight"], **tls
        )

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """A `timebase` client command with the server's configuration (and `env` on top)."""
        command_env = {
            **self.env,
            "TIMEBASE_GRPC_PORT": str(self.ports["gRPC"]),
            "TIMEBASE_FLIGHT_PORT": str(self.ports["Flight"]),
            **env,
        }
        return subprocess.run(
            [*TIMEBASE, *args],
            env=command_env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


_ENDPOINT = re.compile(r"  (gRPC|Flight|REST) +(\S+)://127\.0\.0\.1:(\d+)")


def start_tls_serve(
    root: Path, servers: DatabaseServers, env: dict[str, str], certs: Certificates, backend: str
) -> TlsServe:
    """`timebase serve` on ports 0 with only the synthetic provider, on a fresh database of
    `backend`'s server; `env` adds the TLS settings (or a timebase.yaml in `root`)."""
    root.mkdir(parents=True, exist_ok=True)
    full = {k: v for k, v in os.environ.items() if not k.startswith("TIMEBASE_")}
    full.update(
        {
            "TIMEBASE_DATA_DIR": str(root / "data"),
            "TIMEBASE_DATABASE_URL": create_database(servers.url(backend), prefix="tls"),
            "TIMEBASE_GRPC_PORT": "0",
            "TIMEBASE_FLIGHT_PORT": "0",
            "TIMEBASE_HTTP_PORT": "0",
            "TIMEBASE_PROVIDERS_ENABLED": "synthetic",
            "TIMEBASE_LOG_LEVEL": "WARNING",
            **env,
        }
    )
    proc, lines = start_serve(full, root, timeout=60)
    served = TlsServe(proc, lines, full, root, certs)
    if not lines or lines[-1] != "Press Ctrl-C to stop.":
        served.stop()
        raise AssertionError(f"timebase serve did not start: {lines}")
    for line in lines:
        match = _ENDPOINT.fullmatch(line)
        if match:
            served.ports[match.group(1)] = int(match.group(3))
    return served


class TlsServes:
    """One TLS `timebase serve` per database backend for a test module, started on first use:
    the module's tests run once per backend (the `backend` fixture's ids)."""

    def __init__(
        self,
        root: Path,
        servers: DatabaseServers,
        certs: Certificates,
        env: dict[str, str] | None = None,
        config: str | None = None,
    ) -> None:
        self.root = root
        self.servers = servers
        self.certs = certs
        self.env = env or {}
        #: A timebase.yaml for each serve's folder (None: none).
        self.config = config
        self.started: dict[str, TlsServe] = {}

    def get(self, backend: str) -> TlsServe:
        if backend not in self.started:
            root = self.root / backend
            root.mkdir(parents=True)
            if self.config is not None:
                (root / "timebase.yaml").write_text(self.config)
            self.started[backend] = start_tls_serve(
                root, self.servers, self.env, self.certs, backend
            )
        return self.started[backend]

    def stop(self) -> None:
        for served in self.started.values():
            served.stop()
