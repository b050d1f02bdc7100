"""The real-time hub: client streams, shared upstream subscriptions, fan-out.

The hub is protocol-neutral: a door hands it a client's controls and relays the messages it
yields; a stream the hub ends raises a `TimeBaseError` (its `kind` says why), which the door maps
with its own table (`timebase.grpc.realtime` for `StreamRealTimeData`, `timebase.rest.websocket`
for `GET /api/stream`)::

    hub = RealtimeHub(store, candidates)      # candidates(symbol, interval) -> [UpstreamTarget]
    await hub.start()
    ...
    async for msg in hub.stream(controls):    # controls: AsyncIterator[pb.StreamControl]
        ...                                   # raises TimeBaseError when the hub ends the stream
    ...
    await hub.stop()

This module holds the client side (streams, controls) and the bars arriving from providers; the
provider side (choosing, subscribing, failing over, fanning out) is `routes.UpstreamRoutes`.

Behaviour:

- Controls: SUBSCRIBE / UNSUBSCRIBE / PAUSE / RESUME as described in `controls`. A malformed
  control ends the client's stream with an INVALID error (gRPC INVALID_ARGUMENT) and a message
  naming the field (``symbol: …``, ``interval: …``, ``action: …``) — the same as SDK providers
  do, so a client behaves the same against the gateway and a provider. More than
  `max_subscriptions` on one stream ends it with a RATE_LIMITED error (gRPC
  RESOURCE_EXHAUSTED). SUBSCRIBE of something already subscribed and
  UNSUBSCRIBE of something not subscribed are no-ops. When the client half-closes, its stream
  keeps running until it cancels (as with SDK providers).
- Sharing: ONE upstream subscription per (symbol, interval), whatever the number of clients, and
  ONE `StreamRealTimeData` call per provider carrying all of that provider's subscriptions
  (`upstream.UpstreamCall`). The first subscriber's `options` are forwarded upstream; later
  subscribers share that subscription. The last UNSUBSCRIBE (or disconnect) of a key sends
  UNSUBSCRIBE upstream; a provider call left with no subscription is closed.
- PAUSE keeps the subscriptions (and the upstream ones) but sends the client no bars of what is
  paused until RESUME (warnings still arrive); bars of the paused period are not replayed (they
  are still stored).
- Bars: ``metadata["final"]`` is ``"true"`` or ``"false"`` on every bar sent to clients; bars are
  re-labelled with the upstream provider's slug. A provider that does not mark its bars has
  them treated as in-progress, and a bar is taken as final when a bar of a later period arrives.
  Only final bars are stored (`writer.BarWriter`, batched every 250 ms or 500 bars, off the
  fan-out path). Bars with non-finite values, low > high or negative volume are dropped and
  logged. A final bar not newer than the last final bar of its subscription (e.g. the
  same period from the fallback provider) is stored but not sent again.
- Fan-out: bounded per-client queues, never waited on; the overflow policy (drop in-progress bars
  first, then the oldest final bars with a PARTIAL_DATA gap warning) is in `fanout`.
- Failover: when a provider's call fails or ends, every subscription on it gets a
  PROVIDER_FALLBACK warning (in-stream, see `warnings`; ``start`` = the last bar seen) and is
  resubscribed on the best candidate not cooling down. One warning per outage: further failed
  attempts stay silent until a bar arrives again (or a call has stayed up for 10 s). Each failure puts the provider in an
  exponential backoff (with jitter) before it is tried again; a bar received from it resets
  that. INVALID_ARGUMENT / NOT_FOUND only excludes that provider for the subscriptions it names
  in the error's `google.rpc.ErrorInfo` (``symbol``, ``interval``; see `upstream.refused_keys`),
  or for every subscription of the call when it names none. With no usable candidate the subscribers get one PARTIAL_DATA warning
  and the hub retries with backoff — the stream stays open. A subscription stays on the provider
  it failed over to (no fail-back while that one works).
- Lifecycle: `__init__` is sync; `start()`/`stop()` async. `stop()` ends every client stream with
  an UNAVAILABLE error, closes every upstream call, cancels and awaits every task and flushes the
  pending bars. A client disconnecting releases all of its subscriptions.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Sequence

from timebase.gateway.realtime.controls import Action, Control, Key, parse_control
from timebase.gateway.realtime.fanout import ClientSession, Kind
from timebase.gateway.realtime.routes import Route, UpstreamRoutes, bad_values, ts_us
from timebase.gateway.realtime.upstream import (
    CHANNEL_OPTIONS,
    Candidates,
    UpstreamCall,
    UpstreamTarget,
)
from timebase.gateway.realtime.writer import BarSink, BarWriter
from timebase.provider import provider_pb2 as pb
from timebase.sdk.backoff import Backoff
from timebase.sdk.errors import (
    ClientRateLimited,
    InvalidRequestError,
    ProviderUnavailable,
)

_log = logging.getLogger("timebase.gateway.realtime")


class RealtimeHub(UpstreamRoutes):
    """Real-time fan-out for the gateway; see the module docstring."""

    def __init__(
        self,
        store: BarSink,
        candidates: Candidates,
        *,
        queue_size: int = 1024,
        max_subscriptions: int = 1000,
        backoff: Backoff | None = None,
        flush_interval: float = 0.25,
        flush_rows: int = 500,
        channel_options: Sequence[tuple[str, int]] = CHANNEL_OPTIONS,
    ) -> None:
        self._candidates = candidates
        self.queue_size = queue_size
        self.max_subscriptions = max_subscriptions
        self.backoff = backoff or Backoff()
        self._channel_options = channel_options
        self.writer = BarWriter(store, interval=flush_interval, max_rows=flush_rows)
        self._routes: dict[Key, Route] = {}
        self._calls: dict[UpstreamTarget, UpstreamCall] = {}
        self._sessions: set[ClientSession] = set()
        self._failures: dict[str, int] = {}
        self._cooldown_until: dict[str, float] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._running = False
        #: Upstream bars dropped for unusable values.
        self.skipped = 0
        #: Bars dropped from the queues of clients that already left, by kind (for metrics).
        self._dropped_gone = {"final": 0, "in_progress": 0}

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.writer.start()
        self._running = True

    async def stop(self) -> None:
        self._running = False
        for session in list(self._sessions):
            session.fail(ProviderUnavailable("the gateway is shutting down"))
        routes = list(self._routes.values())
        self._routes.clear()
        connecting = [r.connecting for r in routes if r.connecting is not None]
        for task in connecting:
            task.cancel()
        await asyncio.gather(*connecting, return_exceptions=True)
        calls = list(self._calls.values())
        self._calls.clear()
        await asyncio.gather(*(c.close() for c in calls), return_exceptions=True)
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.writer.stop()

    # -- introspection ------------------------------------------------------------------------

    def upstream(self) -> dict[Key, str | None]:
        """Each subscribed (symbol, interval) and the slug of the provider serving it (None
        while none does)."""
        return {
            key: route.call.target.slug if route.call is not None else None
            for key, route in self._routes.items()
        }

    def subscribers(self, key: Key) -> int:
        route = self._routes.get(key)
        return len(route.subscribers) if route is not None else 0

    @property
    def clients(self) -> int:
        return len(self._sessions)

    @property
    def upstream_calls(self) -> int:
        return len(self._calls)

    @property
    def subscriptions(self) -> int:
        """Client subscriptions, summed over every (symbol, interval)."""
        return sum(len(route.subscribers) for route in self._routes.values())

    @property
    def queued(self) -> int:
        """Messages waiting in client queues, summed over every client."""
        return sum(len(session.queue) for session in self._sessions)

    def dropped(self) -> dict[str, int]:
        """Bars dropped from client queues since the hub started, by kind (final, in_progress)."""
        totals = dict(self._dropped_gone)
        for session in self._sessions:
            totals["final"] += session.queue.dropped_final
            totals["in_progress"] += session.queue.dropped_in_progress
        return totals

    # -- client streams -----------------------------------------------------------------------

    async def stream(
        self, requests: AsyncIterator[pb.StreamControl]
    ) -> AsyncIterator[pb.TimeSeriesData]:
        """One client's stream: its controls in, its bars and warnings out.

        Raises the `TimeBaseError` that ended the stream (a bad control, too many
        subscriptions, the hub stopping) after the client's subscriptions are released.
        """
        if not self._running:
            raise ProviderUnavailable("real-time streaming is not running")
        session = ClientSession(next(self._ids), self.queue_size)
        self._sessions.add(session)
        reader = asyncio.create_task(
            self._read_controls(session, requests), name=f"realtime-controls-{session.ident}"
        )
        try:
            while True:
                msg = await session.queue.get()
                if msg is None:
                    break
                yield msg
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            self._release(session)
        if session.error is not None:
            raise session.error

    async def _read_controls(
        self, session: ClientSession, requests: AsyncIterator[pb.StreamControl]
    ) -> None:
        try:
            async for raw in requests:
                try:
                    self._apply(session, parse_control(raw))
                except (InvalidRequestError, ClientRateLimited) as exc:
                    session.fail(exc)
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the client's side of the stream broke; its door ends it
            _log.debug("reading controls of client %d stopped: %s", session.ident, exc)

    def _apply(self, session: ClientSession, control: Control) -> None:
        if not self._running or session.queue.closed:
            return
        if control.action is Action.SUBSCRIBE:
            key = control.key
            if key in session.subscriptions:
                return
            if len(session.subscriptions) >= self.max_subscriptions:
                raise ClientRateLimited(
                    f"more than {self.max_subscriptions} subscriptions on one stream"
                )
            session.subscriptions.add(key)
            route = self._routes.get(key)
            if route is None:
                route = self._open_route(key, control.options)
            route.subscribers.add(session)
            if route.notice is not None:
                session.queue.put(Kind.WARNING, key, route.notice)
        elif control.action is Action.UNSUBSCRIBE:
            for key in session.matching(control):
                session.subscriptions.discard(key)
                self._leave(key, session)
        elif control.action is Action.PAUSE:
            session.pause(control)
        else:
            session.resume(control)

    def _release(self, session: ClientSession) -> None:
        self._sessions.discard(session)
        for key in list(session.subscriptions):
            self._leave(key, session)
        session.subscriptions.clear()
        session.queue.close()
        self._dropped_gone["final"] += session.queue.dropped_final
        self._dropped_gone["in_progress"] += session.queue.dropped_in_progress
        if session.queue.dropped_final or session.queue.dropped_in_progress:
            _log.info(
                "client %d left; it was too slow for %d final and %d in-progress bars",
                session.ident,
                session.queue.dropped_final,
                session.queue.dropped_in_progress,
            )

    # -- upstream events ----------------------------------------------------------------------

    def _on_message(self, call: UpstreamCall, msg: pb.TimeSeriesData) -> None:
        key = (msg.symbol.upper(), msg.interval)
        route = self._routes.get(key)
        if route is None or route.call is not call or not msg.HasField("timestamp"):
            return
        problem = bad_values(msg)
        if problem is not None:
            self.skipped += 1
            _log.warning(
                "skipped a real-time bar of %s %s from %s: %s",
                *key,
                call.target.slug,
                problem,
            )
            return
        self._failures.pop(call.target.slug, None)
        self._cooldown_until.pop(call.target.slug, None)
        route.outage = False
        marked = msg.metadata.get("final")
        if marked is not None:
            self._deliver(route, call, msg, final=marked.strip().lower() == "true")
            return
        # An unmarked bar: in progress until a bar of a later period arrives.
        previous = route.open_bar
        if previous is not None and ts_us(msg) > ts_us(previous):
            self._deliver(route, call, previous, final=True)
        route.open_bar = msg
        self._deliver(route, call, msg, final=False)

    def _deliver(
        self, route: Route, call: UpstreamCall, msg: pb.TimeSeriesData, *, final: bool
    ) -> None:
        key = route.key
        out = pb.TimeSeriesData()
        out.CopyFrom(msg)
        out.symbol, out.interval, out.provider = key[0], key[1], call.target.slug
        out.metadata["final"] = "true" if final else "false"
        ts = ts_us(out)
        route.last_bar_us = ts if route.last_bar_us is None else max(route.last_bar_us, ts)
        stale = route.last_final_us is not None and ts <= route.last_final_us
        if final:
            self.writer.add(
                (key[0], key[1], out.provider, ts),
                (out.open, out.high, out.low, out.close, out.volume),
                {k: v for k, v in out.metadata.items() if k != "final"},
            )
            if stale:
                return
            route.last_final_us = ts
        elif stale:
            return
        self._fan_out(route, Kind.FINAL if final else Kind.IN_PROGRESS, out)
