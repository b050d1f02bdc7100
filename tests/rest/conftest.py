"""A real REST server on port 0 over a real HistoricalBars (SDK providers, a real database)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.gateway.support import Gateway, RecordingProvider, running_gateway
from timebase.core.config import RestConfig
from timebase.gateway.query import QueryApi
from timebase.gateway.realtime import RealtimeHub
from timebase.rest import RestServer
from timebase.store import Store

#: Generous enough that only the rate-limit tests ever hit it.
NO_LIMIT = RestConfig(rate_limit_enabled=False)


@dataclass
class Rest:
    gw: Gateway
    server: RestServer
    http: aiohttp.ClientSession
    hub: RealtimeHub | None = None

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    async def get(self, path: str, **kw: Any) -> tuple[int, Any, aiohttp.ClientResponse]:
        """(status, parsed JSON body, response) of GET `path`."""
        async with self.http.get(self.url(path), **kw) as resp:
            body = await resp.read()
            data = await resp.json(content_type=None) if body[:1] == b"{" else body
            return resp.status, data, resp


@contextlib.asynccontextmanager
async def running_rest(
    database_url: str,
    *providers: RecordingProvider,
    config: RestConfig = NO_LIMIT,
    realtime: Callable[[Store], RealtimeHub] | None = None,
    **gateway: Any,
) -> AsyncIterator[Rest]:
    """`realtime` builds the real-time hub from the store (started and stopped here)."""
    async with running_gateway(database_url, *providers, **gateway) as gw:
        hub = realtime(gw.store) if realtime is not None else None
        if hub is not None:
            await hub.start()
        server = RestServer(QueryApi(gw.history), port=0, config=config, realtime=hub)
        await server.start()
        try:
            async with aiohttp.ClientSession() as http:
                yield Rest(gw, server, http, hub)
        finally:
            await server.stop()
            if hub is not None:
                await hub.stop()
