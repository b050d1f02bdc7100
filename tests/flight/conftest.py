"""A gateway (store, test providers, HistoricalBars, gRPC) with the Flight server on port 0."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pyarrow import flight

from tests.gateway.support import Gateway, RecordingProvider, running_gateway
from timebase.calendars.registry import Calendars
from timebase.client.errors import flight_error_info
from timebase.core.config import RoutingConfig
from timebase.flight import FlightServer
from timebase.gateway.query import QueryApi
from timebase.store.hot_tier import HotTier


@dataclass
class FlightGateway:
    gateway: Gateway
    server: FlightServer

    @property
    def location(self) -> str:
        return f"grpc://127.0.0.1:{self.server.port}"

    def client(self) -> flight.FlightClient:
        return flight.connect(self.location)


@contextlib.asynccontextmanager
async def running_flight(
    database_url: str,
    *providers: RecordingProvider,
    routing: RoutingConfig | None = None,
    hot_tier: HotTier | None = None,
    calendars: Calendars | None = None,
    **server_options: Any,
) -> AsyncIterator[FlightGateway]:
    """`server_options` go to FlightServer (e.g. `max_bars=`, `max_symbols=`); `hot_tier` to
    the gateway's Store."""
    async with running_gateway(
        database_url, *providers, routing=routing, hot_tier=hot_tier, calendars=calendars
    ) as gateway:
        server = FlightServer("127.0.0.1", 0, **server_options)
        server.attach(QueryApi(gateway.history))
        await server.start()
        try:
            yield FlightGateway(gateway, server)
        finally:
            await server.stop()


def sent_error(error: BaseException) -> dict[str, Any]:
    """TimeBase's `{"code", "message", "details"}` a Flight client received with `error`."""
    info = flight_error_info(error)
    assert info is not None, f"no TimeBase error in {type(error).__name__}: {error}"
    return info
