"""Upstream side of the hub: which providers to use, and one shared call per provider.

`UpstreamCall` is ONE bidi `StreamRealTimeData` call to one provider carrying every
(symbol, interval) the hub routes to it: SUBSCRIBE and UNSUBSCRIBE controls are written on the
shared call as subscriptions come and go, and the hub closes the call when none is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import grpc

from timebase.gateway.realtime.controls import Key
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk.errors import ErrorKind
from timebase.sdk.status import error_info_from_metadata, kind_of_status

_log = logging.getLogger("timebase.gateway.realtime")
_EOF: object = grpc.aio.EOF  # type: ignore[attr-defined]  # missing from grpc-stubs


@dataclass(frozen=True)
class UpstreamTarget:
    """A provider the hub may subscribe to: its slug and `host:port`."""

    slug: str
    address: str


#: Ranked providers for (symbol, interval), best first; sync or async (the router's).
Candidates: TypeAlias = Callable[
    [str, str], Sequence[UpstreamTarget] | Awaitable[Sequence[UpstreamTarget]]
]


#: Client-side channel settings for provider calls: long-lived streams, keep-alive pings so a
#: provider that vanishes without closing its socket is noticed within ~30 s.
CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
]

OnMessage = Callable[["UpstreamCall", pb.TimeSeriesData], None]
OnEnd = Callable[["UpstreamCall", BaseException | None], None]


class UpstreamCall:
    """One `StreamRealTimeData` call to one provider, shared by many subscriptions.

    `on_message` gets every message read; `on_end` is called once when the call ends by itself
    (error or end of stream) — never after `close()`.
    """

    def __init__(
        self,
        target: UpstreamTarget,
        on_message: OnMessage,
        on_end: OnEnd,
        channel_options: Sequence[tuple[str, int]] = CHANNEL_OPTIONS,
    ) -> None:
        self.target = target
        self.keys: set[Key] = set()
        self._on_message = on_message
        self._on_end = on_end
        self._channel_options = list(channel_options)
        self._controls: asyncio.Queue[pb.StreamControl] = asyncio.Queue()
        self._channel: grpc.aio.Channel | None = None
        self._call: grpc.aio.StreamStreamCall[pb.StreamControl, pb.TimeSeriesData] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ended = False
        self.delivered = 0

    def __repr__(self) -> str:
        return f"UpstreamCall({self.target.slug}@{self.target.address}, {len(self.keys)} keys)"

    @property
    def ended(self) -> bool:
        return self._ended

    def start(self) -> None:
        self._channel = grpc.aio.insecure_channel(
            self.target.address, options=self._channel_options
        )
        stub = pb_grpc.DataProviderStub(self._channel)
        # Without a request iterator: controls are written with call.write (grpc-stubs lags).
        self._call = stub.StreamRealTimeData()  # type: ignore[call-arg]
        self._tasks = [
            asyncio.create_task(self._write_loop(), name=f"realtime-write-{self.target.slug}"),
            asyncio.create_task(self._read_loop(), name=f"realtime-read-{self.target.slug}"),
        ]

    def subscribe(self, key: Key, options: Mapping[str, str]) -> None:
        self.keys.add(key)
        self._controls.put_nowait(
            pb.StreamControl(
                action=pb.StreamControl.SUBSCRIBE,
                symbol=key[0],
                interval=key[1],
                options=dict(options),
            )
        )

    def unsubscribe(self, key: Key) -> None:
        self.keys.discard(key)
        self._controls.put_nowait(
            pb.StreamControl(action=pb.StreamControl.UNSUBSCRIBE, symbol=key[0], interval=key[1])
        )

    async def _write_loop(self) -> None:
        assert self._call is not None
        try:
            while True:
                control = await self._controls.get()
                await self._call.write(control)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The call is over (AioRpcError, InvalidStateError, …); the read loop reports why.
            _log.debug("upstream write to %s stopped: %s", self.target.slug, exc)

    async def _read_loop(self) -> None:
        assert self._call is not None
        error: BaseException | None = None
        try:
            while True:
                msg = await self._call.read()
                if msg is _EOF:
                    break
                assert isinstance(msg, pb.TimeSeriesData)
                self.delivered += 1
                self._on_message(self, msg)
        except grpc.aio.AioRpcError as exc:
            error = exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a callback must not kill the hub silently
            _log.exception("upstream stream of %s failed", self.target.slug)
            error = exc
        self._end(error)

    def _end(self, error: BaseException | None) -> None:
        if self._ended:
            return
        self._ended = True
        self._on_end(self, error)

    async def close(self) -> None:
        """Cancel the call (the provider sees the stream end) and close the channel."""
        self._ended = True
        if self._call is not None:
            self._call.cancel()
        for task in self._tasks:
            task.cancel()
        current = asyncio.current_task()
        await asyncio.gather(*(t for t in self._tasks if t is not current), return_exceptions=True)
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close(None)
            self._channel = None


def describe(error: BaseException | None) -> str:
    """A short description of why a call ended, for logs and warnings."""
    if error is None:
        return "the provider ended the stream"
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    return f"{type(error).__name__}: {error}"


def refused_keys(keys: Iterable[Key], error: BaseException | None) -> set[Key]:
    """The keys among `keys` a provider refused (INVALID_ARGUMENT / NOT_FOUND), read from the
    error's `google.rpc.ErrorInfo` metadata (``symbol``, ``interval``); an empty set when the
    call failed for another reason.

    A refusal that names neither (a provider on an older SDK sends no ErrorInfo) refuses every
    key of the call: nothing is read out of the message text.
    """
    if not isinstance(error, grpc.aio.AioRpcError) or kind_of_status(error.code()) not in (
        ErrorKind.INVALID,
        ErrorKind.NOT_FOUND,
    ):
        return set()
    info = error_info_from_metadata(error.trailing_metadata())
    symbol = info.metadata.get("symbol", "").upper() if info is not None else ""
    interval = info.metadata.get("interval", "") if info is not None else ""
    return {
        key
        for key in keys
        if (not symbol or key[0].upper() == symbol) and (not interval or key[1] == interval)
    }
