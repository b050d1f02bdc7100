"""The hub's routes: each subscribed (symbol, interval), the provider call serving it, and the
upstream side of the hub — choosing a provider, subscribing on it, failing over when its call
ends (one warning per outage, backoff per provider) and fanning messages out to subscribers.

`UpstreamRoutes` is the part of `RealtimeHub` that deals with providers; the hub itself
(`timebase.gateway.realtime.hub`) deals with client streams and the bars that arrive.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from timebase.gateway.realtime.controls import Key
from timebase.gateway.realtime.fanout import ClientSession, Kind
from timebase.gateway.realtime.upstream import (
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
from timebase.provider import provider_pb2 as pb
from timebase.sdk.backoff import Backoff
from timebase.sdk.bar_rules import first_broken

_log = logging.getLogger("timebase.gateway.realtime")

#: A call that stayed up this long before failing starts a new outage (a new warning).
_STABLE = 10.0


@dataclass(eq=False)
class Route:
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


def ts_us(msg: pb.TimeSeriesData) -> int:
    return msg.timestamp.seconds * 1_000_000 + msg.timestamp.nanos // 1000


def bad_values(msg: pb.TimeSeriesData) -> str | None:
    """Why a bar's values are unusable (the shared bar rules the store applies too), or None."""
    rule = first_broken(msg.open, msg.high, msg.low, msg.close, msg.volume)
    return f"{rule.column}: {rule.message}" if rule is not None else None


class UpstreamRoutes:
    """The provider side of `RealtimeHub` (see the module docstring)."""

    backoff: Backoff
    _candidates: Candidates
    _channel_options: Sequence[tuple[str, int]]
    _routes: dict[Key, Route]
    _calls: dict[UpstreamTarget, UpstreamCall]
    _failures: dict[str, int]
    _cooldown_until: dict[str, float]
    _background: set[asyncio.Task[None]]

    def _on_message(self, call: UpstreamCall, msg: pb.TimeSeriesData) -> None:
        raise NotImplementedError  # the hub's: a bar or warning from a provider

    # -- routes -------------------------------------------------------------------------------

    def _open_route(self, key: Key, options: Mapping[str, str]) -> Route:
        route = Route(key, dict(options))
        self._routes[key] = route
        route.connecting = self._connect_soon(route)
        return route

    def _connect_soon(self, route: Route) -> asyncio.Task[None]:
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

    async def _targets(self, route: Route) -> list[UpstreamTarget]:
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

    async def _connect(self, route: Route) -> None:
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

    def _subscribe(self, route: Route, target: UpstreamTarget) -> None:
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

    def _fan_out(self, route: Route, kind: Kind, msg: pb.TimeSeriesData) -> None:
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
