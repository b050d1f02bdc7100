"""The Arrow Flight endpoint: bulk columnar reads (`get_flight_info` → `do_get`), the stored data
sets (`list_flights`) and bulk ingest (`do_put`).

    flight = FlightServer(host, port, tls=None)   # tls: a timebase.core.tls.ServerTls
    flight.attach(api)                 # the app's QueryApi (the same for every door);
                                       # authenticator=: API keys (None: auth off)
    await flight.start()               # listens; `flight.port` is the bound port
    ...
    await flight.stop()

pyarrow serves Flight calls on its own threads (`service.FlightService` → `handlers`). Calls
into the gateway core (planning, the gap-aware cache, ingest) are coroutines run on the
gateway's event loop through `bridge.LoopBridge`; the blocking ADBC reads of `do_get` run on the
Flight thread itself, streaming record batches from the database to the client without Python
work per row.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from pyarrow import flight

from timebase.auth.authenticator import Authenticator
from timebase.core.tls import ServerTls
from timebase.flight.bridge import LoopBridge
from timebase.flight.handlers import FlightHandlers
from timebase.flight.query import DEFAULT_MAX_SYMBOLS
from timebase.flight.service import FlightService
from timebase.gateway.bar_limits import DEFAULT_MAX_BARS
from timebase.gateway.query import QueryApi
from timebase.gateway.query.split import DEFAULT_ENDPOINT_BARS
from timebase.gateway.request_metrics import RequestObserver
from timebase.sdk.conventions import DEFAULT_FLIGHT_PORT
from timebase.sdk.errors import ServerStartError

_log = logging.getLogger(__name__)

DEFAULT_PORT = DEFAULT_FLIGHT_PORT


class FlightServer:
    """TimeBase's Arrow Flight door: sync constructor, `attach`, async `start`/`stop`."""

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        stop_timeout: float = 5.0,
        tls: ServerTls | None = None,
        max_bars: int = DEFAULT_MAX_BARS,
        max_symbols: int = DEFAULT_MAX_SYMBOLS,
        peers: Sequence[str] = (),
        endpoint_bars: int = DEFAULT_ENDPOINT_BARS,
    ) -> None:
        self.host = host
        #: Locations GetFlightInfo hands its endpoints to in turn (`flight.peers`; empty: here).
        self.peers = tuple(peers)
        #: Most bars per symbol (`flight.max_bars`) and symbols per query (`flight.max_symbols`).
        self.max_bars = max_bars
        self.max_symbols = max_symbols
        #: Bars per endpoint above which a symbol's range is split (`flight.endpoint_bars`).
        self.endpoint_bars = endpoint_bars
        self.requested_port = port
        #: Serve TLS (`grpc+tls://`; client certificates required when it has a client CA);
        #: None: plaintext. Set before start().
        self.tls = tls
        self.port: int | None = None
        self.stop_timeout = stop_timeout
        self.api: QueryApi | None = None
        self.metrics: RequestObserver | None = None
        self.authenticator: Authenticator | None = None
        self.bridge = LoopBridge()
        self._service: FlightService | None = None
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        return "grpc+tls" if self.tls is not None else "grpc"

    @property
    def location(self) -> str:
        """The URI clients connect to (`grpc://host:port`, `grpc+tls://host:port` with TLS)."""
        port = self.port if self.port is not None else self.requested_port
        return f"{self.scheme}://{self.host}:{port}"

    def _transport(self) -> dict[str, Any]:
        """pyarrow's TLS arguments of `FlightServerBase` (none without TLS)."""
        if self.tls is None:
            return {}
        return {
            "tls_certificates": [
                flight.CertKeyPair(self.tls.certificate_chain, self.tls.private_key)
            ],
            "verify_client": self.tls.client_auth,
            "root_certificates": self.tls.client_ca,
        }

    def attach(
        self,
        api: QueryApi,
        metrics: RequestObserver | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        """Serve from the query API `api` (the one every door shares) before `start()`;
        record each call into `metrics` when given; authenticate every call with
        `authenticator` (None: auth off)."""
        if self._service is not None:
            raise RuntimeError("attach() must be called before start()")
        self.api = api
        self.metrics = metrics
        self.authenticator = authenticator

    async def start(self) -> None:
        if self.api is None:
            raise RuntimeError("attach(api) before start()")
        self.bridge.open(asyncio.get_running_loop())
        location = f"{self.scheme}://{self.host}:{self.requested_port}"
        handlers = FlightHandlers(
            self.api,
            self.bridge,
            max_bars=self.max_bars,
            max_symbols=self.max_symbols,
            peers=self.peers,
            endpoint_bars=self.endpoint_bars,
        )
        try:
            service = await asyncio.to_thread(
                FlightService,
                location,
                handlers,
                self.metrics,
                self.authenticator,
                **self._transport(),
            )
        except (OSError, pa.ArrowException) as exc:
            raise ServerStartError(
                f"Arrow Flight cannot listen on {self.host}:{self.requested_port} ({exc}): the "
                "port is in use or the address is not local; choose another with "
                "TIMEBASE_FLIGHT_PORT / TIMEBASE_HOST",
                address=f"{self.host}:{self.requested_port}",
            ) from None
        self._service = service
        self.port = service.port
        self._thread = threading.Thread(target=service.serve, name="timebase-flight", daemon=True)
        self._thread.start()
        _log.info(
            "Arrow Flight server listening",
            extra={"address": f"{self.host}:{self.port}", "tls": self.tls is not None},
        )

    async def stop(self) -> None:
        """Stop accepting calls, cancel calls waiting on the core, wait (bounded) for the rest."""
        service, self._service = self._service, None
        if service is None:
            return
        self.bridge.close()
        try:
            await asyncio.wait_for(asyncio.to_thread(service.shutdown), self.stop_timeout)
        except TimeoutError:
            _log.warning("Arrow Flight calls still running after %.1f s", self.stop_timeout)
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, 1.0)


__all__ = ["DEFAULT_PORT", "FlightServer"]
