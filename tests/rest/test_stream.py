"""WebSocket /api/stream: subscribe → bars arrive → unsubscribe, through the real-time hub."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from tests.gateway.realtime.conftest import T0, provider_server, target
from tests.support.eventually import eventually
from timebase.gateway.query import QueryApi
from timebase.gateway.realtime import Backoff, RealtimeHub
from timebase.rest import RestServer
from timebase.sdk.errors import ServerStartError

from .conftest import NO_LIMIT, running_rest


async def receive(ws: aiohttp.ClientWebSocketResponse, kind: str, wait: float = 5.0) -> Any:
    """The next message of type `kind` (others are skipped)."""
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), wait)
        if msg["type"] == kind:
            return msg


async def test_subscribe_bars_arrive_unsubscribe(fresh_database_url):
    async with provider_server("alpha") as (provider, server):

        def hub(store: Any) -> RealtimeHub:
            return RealtimeHub(
                store,
                lambda s, i: [target(server)],
                backoff=Backoff(initial=0.2, maximum=1.0),
                flush_interval=0.05,
            )

        async with (
            running_rest(fresh_database_url, realtime=hub) as rest,
            rest.http.ws_connect(rest.url("/api/stream"), headers={"X-Request-ID": "ws-1"}) as ws,
        ):
            assert rest.hub is not None
            await ws.send_json({"action": "subscribe", "symbol": "syn:acme", "interval": "1m"})
            assert await receive(ws, "ack") == {
                "type": "ack",
                "action": "subscribe",
                "symbol": "SYN:ACME",
                "interval": "1m",
            }
            await eventually(lambda: provider.subscribed() == [("SYN:ACME", "1m")])
            provider.emit("SYN:ACME", "1m", 0, final=False)
            provider.emit("SYN:ACME", "1m", 0, final=True)
            first, second = await receive(ws, "bar"), await receive(ws, "bar")
            assert first == {
                "type": "bar",
                "symbol": "SYN:ACME",
                "interval": "1m",
                "provider": "alpha",
                "timestamp": "2024-03-04T14:00:00Z",
                "open": 100.0,
                "high": 101.0,
                "low": 99.0,
                "close": 100.5,
                "volume": 10.0,
                "final": False,
            }
            assert second == {**first, "final": True}

            # A bad control is answered with an error; the stream stays open.
            await ws.send_json({"action": "subscribe", "symbol": "SYN:ACME", "interval": "2d"})
            error = await receive(ws, "error")
            assert error["code"] == "INVALID_INTERVAL"
            assert error["message"].startswith("interval: unknown interval '2d'")
            await ws.send_str("not json")
            assert await receive(ws, "error") == {
                "type": "error",
                "code": "INVALID_REQUEST",
                "message": "message: not valid JSON",
            }
            await ws.send_json({"action": "subscribe", "symbol": "SYN:B", "provider": "alpha"})
            assert (await receive(ws, "error"))["message"].startswith("provider: choosing")

            await ws.send_json({"action": "unsubscribe", "symbol": "SYN:ACME", "interval": "1m"})
            assert (await receive(ws, "ack"))["action"] == "unsubscribe"
            await eventually(lambda: provider.subscribed() == [])
            assert rest.hub.subscribers(("SYN:ACME", "1m")) == 0
            # The final bar was stored by the hub: a historical query can read it back.
            for _ in range(100):
                stored = await rest.gw.store.read_table(
                    "SYN:ACME", "1m", T0, T0 + timedelta(minutes=1), provider="alpha"
                )
                if stored.num_rows:
                    break
                await asyncio.sleep(0.05)
            assert stored.column("close").to_pylist() == [100.5]
        await eventually(lambda: rest.hub is not None and rest.hub.clients == 0)


async def test_without_a_hub_the_stream_says_so(fresh_database_url):
    async with (
        running_rest(fresh_database_url) as rest,
        rest.http.ws_connect(rest.url("/api/stream")) as ws,
    ):
        assert await ws.receive_json() == {
            "type": "error",
            "code": "PROVIDER_UNAVAILABLE",
            "message": "real-time streaming is not available on this server",
        }
        msg = await ws.receive()
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_stop_is_bounded_with_open_streams_and_a_busy_port_is_a_clear_error(
    fresh_database_url,
):
    async with provider_server("alpha") as (_provider, server):

        def hub(store: Any) -> RealtimeHub:
            return RealtimeHub(store, lambda s, i: [target(server)], flush_interval=0.05)

        async with running_rest(fresh_database_url, realtime=hub) as rest:
            assert rest.server.port is not None
            assert rest.server.port > 0
            busy = RestServer(QueryApi(rest.gw.history), port=rest.server.port, config=NO_LIMIT)
            with pytest.raises(ServerStartError) as err:
                await busy.start()
            assert err.value.message.startswith(
                f"REST cannot listen on 127.0.0.1:{rest.server.port}"
            )
            async with rest.http.ws_connect(rest.url("/api/stream")) as ws:
                await ws.send_json({"action": "subscribe", "symbol": "SYN:A", "interval": "1m"})
                await receive(ws, "ack")
                # stop() closes the open streams itself (1001, saying why) instead of waiting
                # out the shutdown timeout and cutting them; the bound only guards against a hang.
                await asyncio.wait_for(rest.server.stop(), 30)
                msg = await ws.receive()
                assert (msg.type, msg.data, msg.extra) == (
                    aiohttp.WSMsgType.CLOSE,
                    1001,
                    "server shutting down",
                )
