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

Behaviour:

- Controls: SUBSCRIBE / UNSUBSCRIBE / PAUSE / RESUME as described in `controls`. A malformed
  control ends the client's stream with an INVALID error (gRPC INVALID_ARGUMENT) and a message
  naming the field (``symbol: …``, ``interval: …``, ``action: …``) — the same as SDK providers
  do, so a client behaves the same against the gateway and a provider. More than
  `max_subscriptions` on one stream ends it with a RATE_LIMITED error (gRPC RESOURCE_EXHAUSTED). SUBSCRIBE of something already subscribed and
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
import inspect
import itertools
import logging
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from timebase.gateway.realtime.controls import Action, Control, Key, parse_control
from timebase.gateway.realtime.fanout import ClientSession, Kind
from timebase.gateway.realtime.upstream import (
    CHANNEL_OPTIONS,
    Candidates,
    UpstreamCall,
    UpstreamTarget,
    describe,
    refused_keys,
)
from timebase.gateway.realtime.warnings import (
    PARTIAL_DATA,
    PROVIDER_FALLBACK,
    warning,
    warning_message,
)
from timebase.gateway.realtime.writer import BarSink, BarWriter
from timebase.provider import provider_pb2 as pb
from timebase.sdk.backoff import Backoff
from timebase.sdk.bar_rules import first_broken
from timebase.sdk.errors import (
    ClientRateLimited,
    InvalidRequestError,
    ProviderUnavailable,
)

_log = logging.getLogger("timebase.gateway.realtime")

#: A call that stayed up this long before failing starts a new outage (a new warning).
_STABLE = 10.0


@dataclass(eq=False)
class _Route:
    """One (symbol, interval): its subscribers and the upstream call serving it."""

    key: Key
    options: Mapping[str, str]
    subscribers: set[ClientSession] = field(default_factory=set)
    call: UpstreamCall | None = None
    connecting: asyncio.Task[None] | None = None
    #: Providers that refused this subscription (INVALID_ARGUMENT / NOT_FOUND).
    rejected: set[str] = field(default_factory=set)
    last_bar_us: int | None = None
    last_final_us: int | None = None
    #: Latest bar of a provider that does not mark bars final (finality is inferred).
    open_bar: pb.TimeSeriesData | None = None
    #: Standing warning while no provider serves the subscription (sent to new subscribers).
    notice: pb.TimeSeriesData | None = None
    #: The subscribers were warned about the current interruption (one warning per outage:
    #: cleared by the next bar, or once a call has stayed up for `_STABLE` seconds).
    outage: bool = False
    subscribed_at: float = 0.0


def _ts_us(msg: pb.TimeSeriesData) -> int:
    return msg.timestamp.seconds * 1_000_000 + msg.timestamp.nanos // 1000


def _bad_values(msg: pb.TimeSeriesData) -> str | None:
    """Why a bar's values are unusable (the shared bar rules the store applies too), or None."""
    rule = first_broken(msg.open, msg.high, msg.low, msg.close, msg.volume)
    return f"{rule.column}: {rule.message}" if rule is not None else None


class RealtimeHub:
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
        self._routes: dict[Key, _Route] = {}
        self._calls: dict[UpstreamTarget, UpstreamCall] = {}
        self._sessions: set[ClientSession] = set()
        self._failures: dict[str, int] = {}
        self._cooldown_until: dict[str, float] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._running = False
        #: Upstream bars dropped for unusable values.
        self.skipped = 0

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
        if session.queue.dropped_final or session.queue.dropped_in_progress:
            _log.info(
                "client %d left; it was too slow for %d final and %d in-progress bars",
                session.ident,
                session.queue.dropped_final,
                session.queue.dropped_in_progress,
            )

    # -- routes -------------------------------------------------------------------------------

    def _open_route(self, key: Key, options: Mapping[str, str]) -> _Route:
        route = _Route(key, dict(options))
        self._routes[key] = route
        route.connecting = self._connect_soon(route)
        return route

    def _connect_soon(self, route: _Route) -> asyncio.Task[None]:
        return asyncio.create_task(self._connect(route), name=f"realtime-connect-{route.key}")

    def _leave(self, key: Key, session: ClientSession) -> None:
        route = self._routes.get(key)
        if route is None:
            return
        route.subscribers.discard(session)
        if route.subscribers:
            return
        del self._routes[key]
        if route.connecting is not None:
            route.connecting.cancel()
            self._track(route.connecting)
        call = route.call
        if call is not None and not call.ended:
            call.unsubscribe(key)
            _log.info("upstream unsubscribe %s %s from %s", key[0], key[1], call.target.slug)
            if not call.keys:
                self._retire(call)

    def _retire(self, call: UpstreamCall) -> None:
        if self._calls.get(call.target) is call:
            del self._calls[call.target]
        _log.info("closing the real-time call to %s", call.target.slug)
        self._spawn(call.close())

    async def _targets(self, route: _Route) -> list[UpstreamTarget]:
        try:
            result = self._candidates(*route.key)
            if inspect.isawaitable(result):
                result = await result
            return [t for t in result if t.slug not in route.rejected]
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("choosing a provider for %s %s failed", *route.key)
            return []

    async def _connect(self, route: _Route) -> None:
        """Subscribe `route` upstream on the best candidate not cooling down; retry until then."""
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            targets = await self._targets(route)
            now = loop.time()
            ready = [t for t in targets if self._cooldown_until.get(t.slug, 0.0) <= now]
            if ready:
                self._subscribe(route, ready[0])
                return
            attempt += 1
            if targets:
                delay = max(0.05, min(self._cooldown_until[t.slug] for t in targets) - now)
                reason = (
                    "every provider serving it failed recently ("
                    + ", ".join(t.slug for t in targets)
                    + ")"
                )
            else:
                delay = self.backoff.delay(attempt)
                reason = "no running provider serves it"
            if route.notice is None:
                _log.warning("no provider for %s %s: %s", *route.key, reason)
                route.notice = warning_message(
                    *route.key,
                    warning(
                        PARTIAL_DATA,
                        f"no real-time data for {route.key[0]} {route.key[1]}: {reason}; retrying",
                    ),
                )
                if not route.outage:
                    route.outage = True
                    self._fan_out(route, Kind.WARNING, route.notice)
            await asyncio.sleep(delay)

    def _subscribe(self, route: _Route, target: UpstreamTarget) -> None:
        call = self._calls.get(target)
        if call is None or call.ended:
            call = UpstreamCall(target, self._on_message, self._on_end, self._channel_options)
            call.start()
            self._calls[target] = call
            _log.info("opened a real-time call to %s at %s", target.slug, target.address)
        route.call = call
        route.notice = None
        route.connecting = None
        route.open_bar = None
        route.subscribed_at = asyncio.get_running_loop().time()
        call.subscribe(route.key, route.options)
        _log.info("upstream subscribe %s %s on %s", *route.key, target.slug)

    # -- upstream events ----------------------------------------------------------------------

    def _on_message(self, call: UpstreamCall, msg: pb.TimeSeriesData) -> None:
        key = (msg.symbol.upper(), msg.interval)
        route = self._routes.get(key)
        if route is None or route.call is not call or not msg.HasField("timestamp"):
            return
        problem = _bad_values(msg)
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
        if previous is not None and _ts_us(msg) > _ts_us(previous):
            self._deliver(route, call, previous, final=True)
        route.open_bar = msg
        self._deliver(route, call, msg, final=False)

    def _deliver(
        self, route: _Route, call: UpstreamCall, msg: pb.TimeSeriesData, *, final: bool
    ) -> None:
        key = route.key
        out = pb.TimeSeriesData()
        out.CopyFrom(msg)
        out.symbol, out.interval, out.provider = key[0], key[1], call.target.slug
        out.metadata["final"] = "true" if final else "false"
        ts = _ts_us(out)
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

    def _fan_out(self, route: _Route, kind: Kind, msg: pb.TimeSeriesData) -> None:
        for session in route.subscribers:
            if kind is Kind.WARNING or session.wants(route.key):
                dropped = session.queue.dropped_final
                session.queue.put(kind, route.key, msg)
                if session.queue.dropped_final == 1 and dropped == 0:
                    _log.warning(
                        "client %d reads too slowly: dropping bars (gap warnings sent)",
                        session.ident,
                    )

    def _on_end(self, call: UpstreamCall, error: BaseException | None) -> None:
        slug = call.target.slug
        if self._calls.get(call.target) is call:
            del self._calls[call.target]
        self._spawn(call.close())
        rejected = refused_keys(call.keys, error)
        if not rejected:
            failures = self._failures.get(slug, 0) + 1
            self._failures[slug] = failures
            delay = self.backoff.delay(failures)
            self._cooldown_until[slug] = asyncio.get_running_loop().time() + delay
            _log.warning(
                "real-time call to %s ended (%s); %d subscriptions move, %s cools down %.2f s",
                slug,
                describe(error),
                len(call.keys),
                slug,
                delay,
            )
        else:
            _log.warning(
                "provider %s refused %s (%s)",
                slug,
                ", ".join(f"{s} {i}" for s, i in sorted(rejected)),
                describe(error),
            )
        now = asyncio.get_running_loop().time()
        for key in list(call.keys):
            route = self._routes.get(key)
            if route is None or route.call is not call:
                continue
            route.call = None
            if key in rejected:
                route.rejected.add(slug)
            if now - route.subscribed_at >= _STABLE:
                route.outage = False
            if route.outage:
                route.connecting = self._connect_soon(route)
                continue
            route.outage = True
            self._fan_out(
                route,
                Kind.WARNING,
                warning_message(
                    *key,
                    warning(
                        PROVIDER_FALLBACK,
                        f"real-time stream of {key[0]} {key[1]} from {slug!r} stopped "
                        f"({describe(error)}); resubscribing on the next provider — bars from "
                        "`start` until data flows again may be missing from this stream",
                        provider=slug,
                        start_us=route.last_bar_us,
                    ),
                ),
            )
            route.connecting = self._connect_soon(route)

    # -- tasks --------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        self._track(asyncio.create_task(coro))

    def _track(self, task: asyncio.Task[None]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)
