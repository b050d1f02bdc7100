"""`GET /api/stream`: real-time bars over a WebSocket, backed by the gateway's real-time hub.

Client → server (JSON text frames)::

    {"type": "auth", "key": "tb_…"}        first, when auth is on and the upgrade request had no
                                           `Authorization: Bearer` header (browsers cannot set it)
    {"action": "subscribe" | "unsubscribe" | "pause" | "resume", "symbol": "AAPL", "interval": "1m"}

Server → client::

    {"type": "auth", "key_name", "scope"}                      the auth message was accepted
    {"type": "ack", "action", "symbol", "interval"}            a control was accepted
    {"type": "bar", "symbol", "interval", "provider", "timestamp", "open", "high", "low",
     "close", "volume", "final", "metadata"?}                   final=false: bar in progress
    {"type": "warning", "symbol", "interval", "code", "message", "provider"?, "start"?, ...}
    {"type": "error", "code", "message"}                        a bad control (the stream stays
                                                                 open) or the end of the stream

Each WebSocket is one client of the hub (`RealtimeHub.stream`), exactly like a gRPC
`StreamRealTimeData` call: shared upstream subscriptions, bounded queue, gap warnings, failover.
A stream the hub ends sends one error message with the error's own code (as on HTTP,
`timebase.rest.errors.http_error`). A missing, wrong or late (`AUTH_TIMEOUT_SECONDS`) auth
message is answered with an UNAUTHENTICATED (or RATE_LIMITED) error message, and the socket is
closed with code 1008 (policy violation).
Controls are checked here first, so a bad one is answered with an error without ending the
stream. `provider` is reserved: the hub chooses the real-time provider (each bar names it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from timebase.gateway.realtime import RealtimeHub, is_warning, parse_control, warnings_of
from timebase.provider import provider_pb2 as pb
from timebase.rest.auth import AUTHENTICATOR, DOOR, authenticated
from timebase.rest.envelope import REQUEST_ID_KEY
from timebase.rest.errors import http_error
from timebase.sdk.errors import InvalidRequestError, TimeBaseError, Unauthenticated

_log = logging.getLogger("timebase.rest")

_ACTIONS = {
    "subscribe": pb.StreamControl.SUBSCRIBE,
    "unsubscribe": pb.StreamControl.UNSUBSCRIBE,
    "pause": pb.StreamControl.PAUSE,
    "resume": pb.StreamControl.RESUME,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: How long a stream opened without a key may take to send its auth message.
AUTH_TIMEOUT_SECONDS = 10.0
#: WebSocket close code of a refused authentication (policy violation).
CLOSE_POLICY = 1008


def bar_message(msg: pb.TimeSeriesData) -> dict[str, Any]:
    ts = _EPOCH + timedelta(seconds=msg.timestamp.seconds, microseconds=msg.timestamp.nanos // 1000)
    stamp = ts.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ts.microsecond:06d}" if ts.microsecond else "")
    out: dict[str, Any] = {
        "type": "bar",
        "symbol": msg.symbol,
        "interval": msg.interval,
        "provider": msg.provider,
        "timestamp": stamp + "Z",
        "open": msg.open,
        "high": msg.high,
        "low": msg.low,
        "close": msg.close,
        "volume": msg.volume,
        "final": msg.metadata.get("final", "true") == "true",
    }
    extra = {k: v for k, v in msg.metadata.items() if k != "final"}
    if extra:
        out["metadata"] = extra
    return out


def outgoing(msg: pb.TimeSeriesData) -> list[dict[str, Any]]:
    """The WebSocket messages for one hub message (a bar, or one message per warning)."""
    if is_warning(msg):
        return [
            {"type": "warning", "symbol": msg.symbol, "interval": msg.interval, **entry}
            for entry in warnings_of(msg)
        ]
    return [bar_message(msg)]


def parse_client_message(raw: str) -> pb.StreamControl:
    """A client's JSON control as a checked `StreamControl` (InvalidRequestError when bad)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequestError("message: not valid JSON", field="message") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("message: expected a JSON object", field="message")
    action = data.get("action")
    if action not in _ACTIONS:
        raise InvalidRequestError(
            f"action: expected one of {', '.join(_ACTIONS)}, got {action!r}", field="action"
        )
    if data.get("provider"):
        raise InvalidRequestError(
            "provider: choosing the real-time provider is not supported; omit it and the "
            "gateway picks one (each bar names its provider)",
            field="provider",
        )
    symbol, interval = data.get("symbol", ""), data.get("interval", "")
    if not isinstance(symbol, str) or not isinstance(interval, str):
        raise InvalidRequestError("symbol, interval: expected strings", field="symbol")
    control = pb.StreamControl(action=_ACTIONS[action], symbol=symbol, interval=interval)
    parse_control(control)  # raises InvalidRequestError naming the field
    return control


def _auth_key(raw: str | None) -> str:
    """The key of a first message `{"type": "auth", "key": "..."}` (Unauthenticated if not)."""
    hint = (
        'the first message must be {"type": "auth", "key": "<API key>"} (or send the header '
        "'Authorization: Bearer <key>' when opening the stream)"
    )
    try:
        data = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict) or data.get("type") != "auth":
        raise Unauthenticated(f"missing API key: {hint}")
    key = data.get("key")
    if not isinstance(key, str) or not key.strip():
        raise Unauthenticated(f"missing API key: {hint}")
    return key.strip()


class StreamHandler:
    """The `/api/stream` handler; `close_all()` ends every open WebSocket (server stop)."""

    def __init__(self, hub: RealtimeHub | None) -> None:
        self.hub = hub
        self._sockets: set[web.WebSocketResponse] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=30.0)
        if not ws.can_prepare(request).ok:
            raise InvalidRequestError(
                "GET /api/stream is a WebSocket: connect with a WebSocket client (headers "
                "Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Version: 13, "
                "Sec-WebSocket-Key)",
                field="Upgrade",
            )
        request_id = request.get(REQUEST_ID_KEY)
        if request_id:
            ws.headers["X-Request-ID"] = request_id
        await ws.prepare(request)
        self._sockets.add(ws)
        lock = asyncio.Lock()

        async def send(message: dict[str, Any]) -> None:
            async with lock:
                if not ws.closed:
                    await ws.send_str(orjson.dumps(message).decode())

        try:
            if not authenticated(request) and not await self._authenticate(request, ws, send):
                return ws
            if self.hub is None:
                await send(
                    {
                        "type": "error",
                        "code": "PROVIDER_UNAVAILABLE",
                        "message": "real-time streaming is not available on this server",
                    }
                )
                return ws
            await self._serve(ws, self.hub, send, request_id or "")
        finally:
            self._sockets.discard(ws)
            await ws.close()
        return ws

    async def _authenticate(
        self, request: web.Request, ws: web.WebSocketResponse, send: Any
    ) -> bool:
        """Read the first message as `{"type": "auth", "key": ...}`; on success send the auth
        acknowledgement, else an error message and close (1008)."""
        try:
            try:
                frame = await ws.receive(timeout=AUTH_TIMEOUT_SECONDS)
            except TimeoutError:
                raise Unauthenticated(
                    f"no auth message within {AUTH_TIMEOUT_SECONDS:g} s: send "
                    '{"type": "auth", "key": "<API key>"} first'
                ) from None
            key = _auth_key(frame.data if frame.type is WSMsgType.TEXT else None)
            caller = await request.app[AUTHENTICATOR].authenticate(
                f"Bearer {key}", request.remote or "", DOOR
            )
        except TimeBaseError as exc:
            error = http_error(exc, request.get(REQUEST_ID_KEY) or "")
            await send({"type": "error", "code": error.code, "message": error.message})
            await ws.close(code=CLOSE_POLICY, message=error.code.encode())
            return False
        await send({"type": "auth", "key_name": caller.key_name, "scope": caller.scope.value})
        return True

    async def _serve(
        self, ws: web.WebSocketResponse, hub: RealtimeHub, send: Any, rid: str
    ) -> None:
        controls: asyncio.Queue[pb.StreamControl] = asyncio.Queue()

        async def requests() -> AsyncIterator[pb.StreamControl]:
            while True:
                yield await controls.get()

        async def pump() -> None:
            try:
                async for msg in hub.stream(requests()):
                    for out in outgoing(msg):
                        await send(out)
            except TimeBaseError as exc:  # the hub ended the stream: its code, as on HTTP
                error = http_error(exc, rid)
                await send({"type": "error", "code": error.code, "message": error.message})
            await ws.close()

        pumping = asyncio.create_task(pump(), name="rest-stream-pump")
        try:
            async for frame in ws:
                if frame.type is WSMsgType.TEXT:
                    try:
                        control = parse_client_message(frame.data)
                    except TimeBaseError as exc:
                        error = http_error(exc, rid)
                        await send({"type": "error", "code": error.code, "message": error.message})
                        continue
                    action = next(a for a, v in _ACTIONS.items() if v == control.action)
                    ack = {"type": "ack", "action": action, "symbol": control.symbol.upper()}
                    if control.interval:
                        ack["interval"] = control.interval
                    await send(ack)
                    controls.put_nowait(control)
                elif frame.type is WSMsgType.BINARY:
                    await send(
                        {
                            "type": "error",
                            "code": "INVALID_REQUEST",
                            "message": "message: send JSON text frames",
                        }
                    )
                elif frame.type is WSMsgType.ERROR:
                    break
        finally:
            pumping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pumping

    async def close_all(self) -> None:
        sockets = list(self._sockets)
        await asyncio.gather(
            *(ws.close(code=1001, message=b"server shutting down") for ws in sockets),
            return_exceptions=True,
        )
