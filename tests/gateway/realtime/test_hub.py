"""The real-time hub end to end: SDK providers and the hub on real grpc.aio servers, a real store."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import timedelta
from typing import Any, cast

import grpc
import pytest

from tests.gateway.realtime.conftest import (
    T0,
    Gateway,
    NullSink,
    provider_server,
    serve_hub,
    target,
)
from tests.support.eventually import eventually
from timebase.gateway.realtime import Backoff, UpstreamTarget, is_warning
from timebase.gateway.realtime.fanout import ClientSession
from timebase.provider import provider_pb2 as pb
from timebase.store import Store

SUB = pb.StreamControl.SUBSCRIBE
UNSUB = pb.StreamControl.UNSUBSCRIBE
PAUSE = pb.StreamControl.PAUSE
RESUME = pb.StreamControl.RESUME


def ts_index(msg: pb.TimeSeriesData) -> int:
    """Which emitted bar a message is (emit() numbers bars from T0 by minute)."""
    return int((msg.timestamp.ToDatetime().timestamp() - T0.timestamp()) // 60)


async def test_two_subscribers_share_one_upstream_subscription(store: Store) -> None:
    async with (
        provider_server("alpha") as (provider, server),
        serve_hub(store, lambda s, i: [target(server)]) as gw,
    ):
        a, b = gw.client(), gw.client()
        await a.subscribe("SYN:ACME")
        await b.subscribe("syn:acme")  # case-insensitive: the same subscription
        await eventually(lambda: gw.hub.subscribers(("SYN:ACME", "1m")) == 2)
        await eventually(lambda: provider.subscribed() == [("SYN:ACME", "1m")])
        # A second key rides the same upstream call.
        await b.subscribe("SYN:BETA", "5m")
        await eventually(lambda: len(provider.subscribed()) == 2)
        assert gw.hub.subscriptions == 3

        provider.emit("SYN:ACME", "1m", 0, final=False)
        provider.emit("SYN:ACME", "1m", 0, final=True)
        provider.emit("SYN:BETA", "5m", 3)
        got_a = await a.bars(2)
        got_b = await b.bars(3)

        assert provider.subscribed() == [("SYN:ACME", "1m"), ("SYN:BETA", "5m")]
        assert provider.subscribe_events == [("SYN:ACME", "1m"), ("SYN:BETA", "5m")]
        assert provider.streams_opened == 1
        assert provider.live_streams == 1
        assert gw.hub.upstream_calls == 1
        assert gw.hub.upstream() == {("SYN:ACME", "1m"): "alpha", ("SYN:BETA", "5m"): "alpha"}
        for got in (got_a, got_b[:2]):
            assert [(m.symbol, m.interval, m.provider) for m in got] == [
                ("SYN:ACME", "1m", "alpha")
            ] * 2
            assert [m.metadata["final"] for m in got] == ["false", "true"]
            assert got[1].close == 100.5
        assert (got_b[2].symbol, got_b[2].interval) == ("SYN:BETA", "5m")
        a.cancel()
        b.cancel()


async def test_unsubscribe_and_disconnect_clean_up_upstream(store: Store) -> None:
    async with (
        provider_server("alpha") as (provider, server),
        serve_hub(store, lambda s, i: [target(server)]) as gw,
    ):
        a, b = gw.client(), gw.client()
        await a.subscribe("SYN:ACME")
        await b.subscribe("SYN:ACME")
        await b.subscribe("SYN:BETA")
        await eventually(lambda: len(provider.subscribed()) == 2)

        # One of two subscribers leaves: the upstream subscription stays.
        await a.unsubscribe("SYN:ACME")
        await eventually(lambda: gw.hub.subscribers(("SYN:ACME", "1m")) == 1)
        assert provider.subscribed() == [("SYN:ACME", "1m"), ("SYN:BETA", "1m")]
        provider.emit("SYN:ACME", "1m", 1)
        assert ts_index((await b.bars(1))[0]) == 1
        await a.nothing_for(0.2)

        # The last subscriber of a key unsubscribes: upstream UNSUBSCRIBE, the call stays.
        await b.send(UNSUB, "SYN:ACME")  # no interval: every interval of the symbol
        await eventually(lambda: provider.subscribed() == [("SYN:BETA", "1m")])
        assert provider.live_streams == 1

        # The last client disconnects: its subscriptions go, and the idle call is closed.
        b.cancel()
        await eventually(lambda: provider.live_streams == 0, what="upstream call closed")
        await eventually(lambda: gw.hub.clients == 1)  # `a` is still connected
        assert gw.hub.upstream() == {}
        assert gw.hub.upstream_calls == 0

        # A new subscription opens a new call.
        await a.subscribe("SYN:ACME")
        await eventually(lambda: provider.subscribed() == [("SYN:ACME", "1m")])
        assert provider.streams_opened == 2
        a.cancel()
        await eventually(lambda: provider.live_streams == 0)


async def test_slow_subscriber_does_not_stall_the_fast_one() -> None:
    n = 400
    # Not about storage: a stand-in store keeps 400 padded bars out of the database.
    async with (
        provider_server("alpha") as (provider, server),
        serve_hub(NullSink(), lambda s, i: [target(server)], queue_size=16) as gw,
    ):
        fast, slow = gw.client(), gw.client(reading=False)
        await fast.subscribe("SYN:ACME")
        await slow.subscribe("SYN:ACME")
        await eventually(lambda: gw.hub.subscribers(("SYN:ACME", "1m")) == 2)
        await eventually(lambda: provider.subscribed() == [("SYN:ACME", "1m")])

        # Big bars, so the slow client's transport buffers fill and its queue overflows. The
        # fast client gets every bar while the slow one reads nothing (stalled, it would not).
        for i in range(n):
            provider.emit("SYN:ACME", "1m", i, pad=32_000)
            if i % 20 == 0:
                await asyncio.sleep(0)
        got = await fast.bars(n, wait=10)
        assert [ts_index(m) for m in got] == list(range(n))

        # Now the slow client reads everything it was sent: every final bar either arrived
        # or is accounted for by a PARTIAL_DATA gap warning (count and range).
        slow.start_reading()
        received: list[int] = []
        lost = 0
        while len(received) + lost < n:
            msg = await slow.next()
            if is_warning(msg):
                [entry] = json.loads(msg.metadata["warnings"])
                assert entry["code"] == "PARTIAL_DATA"
                assert entry["provider"] == "alpha"
                assert entry["count"] >= 1
                lost += entry["count"]
            else:
                received.append(ts_index(msg))
        assert lost > 0, "the slow client's queue never overflowed"
        assert received == sorted(received)
        assert len(received) + lost == n
        assert received[-1] == n - 1  # the newest bars are kept, the oldest dropped
        # The metrics count the drops, also once the client is gone.
        assert gw.hub.dropped() == {"final": lost, "in_progress": 0}
        assert gw.hub.queued == 0
        fast.cancel()
        slow.cancel()
        await eventually(lambda: gw.hub.clients == 0)
        assert gw.hub.dropped() == {"final": lost, "in_progress": 0}


async def test_final_bars_are_stored_in_progress_ones_not(store: Store) -> None:
    async with (
        provider_server("alpha") as (provider, server),
        serve_hub(store, lambda s, i: [target(server)]) as gw,
    ):
        client = gw.client()
        await client.subscribe("SYN:ACME")
        await eventually(lambda: provider.subscribed() == [("SYN:ACME", "1m")])
        for i in range(5):
            provider.emit("SYN:ACME", "1m", i, final=False)
            provider.emit("SYN:ACME", "1m", i, final=True)
        provider.emit("SYN:ACME", "1m", 5, final=False)  # still in progress
        got = await client.bars(11)
        assert [m.metadata["final"] for m in got] == ["false", "true"] * 5 + ["false"]
        await eventually(lambda: gw.hub.writer.written == 5, what="5 bars written")
        client.cancel()
    table = await store.read_table("SYN:ACME", "1m", T0, T0 + timedelta(hours=1))
    rows = table.to_pylist()
    assert [r["timestamp"] for r in rows] == [T0 + timedelta(minutes=i) for i in range(5)]
    assert {r["provider"] for r in rows} == {"alpha"}
    assert [r["close"] for r in rows] == [100.5 + i for i in range(5)]
    assert all(r["metadata"] is None for r in rows)  # "final" is not stored


async def test_provider_killed_resubscribes_on_next_candidate_with_gap_warning(
    store: Store,
) -> None:
    async with (
        provider_server("alpha") as (alpha, alpha_server),
        provider_server("beta") as (beta, beta_server),
    ):
        candidates = [target(alpha_server), target(beta_server)]
        async with serve_hub(store, lambda s, i: candidates) as gw:
            client = gw.client()
            await client.subscribe("SYN:ACME")
            await eventually(lambda: alpha.subscribed() == [("SYN:ACME", "1m")])
            alpha.emit("SYN:ACME", "1m", 0)
            [first] = await client.bars(1)
            assert first.provider == "alpha"

            await alpha_server.stop(grace=0)  # the provider dies

            entry = await client.warning()
            assert entry["code"] == "PROVIDER_FALLBACK"
            assert entry["provider"] == "alpha"
            assert entry["start"] == "2024-03-04T14:00:00+00:00"  # the last bar seen
            assert (entry["_symbol"], entry["_interval"]) == ("SYN:ACME", "1m")
            await eventually(lambda: beta.subscribed() == [("SYN:ACME", "1m")])
            assert gw.hub.upstream() == {("SYN:ACME", "1m"): "beta"}

            beta.emit("SYN:ACME", "1m", 1)
            beta.emit("SYN:ACME", "1m", 0)  # a period already delivered: stored, not re-sent
            beta.emit("SYN:ACME", "1m", 2)
            again = await client.bars(2)
            assert [(m.provider, ts_index(m)) for m in again] == [("beta", 1), ("beta", 2)]
            await eventually(lambda: gw.hub.writer.written == 4)
            client.cancel()
    rows = (await store.read_table("SYN:ACME", "1m", T0, T0 + timedelta(hours=1))).to_pylist()
    assert sorted((r["provider"], r["timestamp"]) for r in rows) == [
        ("alpha", T0),
        ("beta", T0),
        ("beta", T0 + timedelta(minutes=1)),
        ("beta", T0 + timedelta(minutes=2)),
    ]


def only_session(gw: Gateway) -> ClientSession:
    """The hub's one client session (its pause state shows when a control has been applied)."""
    [session] = gw.hub._sessions
    return session


async def test_pause_and_resume(store: Store) -> None:
    acme, beta = ("SYN:ACME", "1m"), ("SYN:BETA", "1m")
    async with (
        provider_server("alpha") as (provider, server),
        serve_hub(store, lambda s, i: [target(server)]) as gw,
    ):
        client = gw.client()
        await client.subscribe("SYN:ACME")
        await client.subscribe("SYN:BETA")
        await eventually(lambda: len(provider.subscribed()) == 2)
        session = only_session(gw)

        await client.send(PAUSE, "SYN:ACME")  # one symbol
        await eventually(lambda: not session.wants(acme), what="PAUSE SYN:ACME applied")
        assert session.wants(beta)
        provider.emit("SYN:ACME", "1m", 0)
        provider.emit("SYN:BETA", "1m", 0)
        [only] = await client.bars(1)
        assert (only.symbol, ts_index(only)) == ("SYN:BETA", 0)

        await client.send(PAUSE)  # the whole stream
        await eventually(lambda: not session.wants(beta), what="PAUSE applied")
        provider.emit("SYN:BETA", "1m", 1)
        # Paused subscriptions stay subscribed upstream, and their bars are still stored.
        await eventually(lambda: gw.hub.writer.written == 3)
        assert len(provider.subscribed()) == 2

        await client.send(RESUME)
        await eventually(lambda: session.wants(acme) and session.wants(beta), what="RESUME")
        provider.emit("SYN:ACME", "1m", 2)
        provider.emit("SYN:BETA", "1m", 2)
        # The next bars are the ones after RESUME: none of the paused period was sent.
        got = await client.bars(2)
        assert sorted((m.symbol, ts_index(m)) for m in got) == [
            ("SYN:ACME", 2),
            ("SYN:BETA", 2),
        ]
        client.cancel()


@pytest.mark.parametrize(
    ("control", "message"),
    [
        (pb.StreamControl(action=SUB, symbol="", interval="1m"), "symbol: must not be empty"),
        (
            pb.StreamControl(action=SUB, symbol="AA PL", interval="1m"),
            "symbol: 'AA PL' may contain only letters, digits and . - ^ = : _",
        ),
        (pb.StreamControl(action=SUB, symbol="SYN:ACME", interval="2m"), "interval: unknown"),
        (pb.StreamControl(action=SUB, symbol="SYN:ACME"), "interval: must not be empty"),
        (
            pb.StreamControl(action=cast(Any, 9), symbol="SYN:ACME", interval="1m"),
            "action: unknown",
        ),
        (pb.StreamControl(action=PAUSE, interval="1m"), "symbol: required when"),
    ],
)
async def test_invalid_control_ends_the_stream_with_invalid_argument(
    store: Store, control: pb.StreamControl, message: str
) -> None:
    async with (
        provider_server("alpha") as (provider, server),
        serve_hub(store, lambda s, i: [target(server)]) as gw,
    ):
        client = gw.client()
        await client.subscribe("SYN:ACME")
        await eventually(lambda: provider.subscribed() == [("SYN:ACME", "1m")])
        await client.call.write(control)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.bars(1)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (info.value.details() or "").startswith(message)
        # The failed stream's subscriptions are released.
        await eventually(lambda: provider.live_streams == 0)


async def test_too_many_subscriptions_is_resource_exhausted(store: Store) -> None:
    async with serve_hub(store, lambda s, i: [], max_subscriptions=2) as gw:
        client = gw.client()
        for name in ("A", "B", "C"):
            await client.subscribe(f"SYN:{name}")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.bars(1)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_no_provider_warns_then_streams_once_one_appears(store: Store) -> None:
    available: list[UpstreamTarget] = []
    async with serve_hub(store, lambda s, i: list(available)) as gw:
        client = gw.client()
        await client.subscribe("SYN:ACME")
        entry = await client.warning()
        assert entry["code"] == "PARTIAL_DATA"
        assert "no running provider serves it" in entry["message"]
        assert gw.hub.upstream() == {("SYN:ACME", "1m"): None}
        # A late subscriber of the same key is told too.
        late = gw.client()
        await late.subscribe("SYN:ACME")
        assert (await late.warning())["code"] == "PARTIAL_DATA"

        async with provider_server("alpha") as (provider, server):
            available.append(target(server))
            await eventually(lambda: provider.subscribed() == [("SYN:ACME", "1m")], within=5)
            provider.emit("SYN:ACME", "1m", 0)
            assert (await client.bars(1))[0].provider == "alpha"
            assert (await late.bars(1))[0].provider == "alpha"
            client.cancel()
            late.cancel()
            await eventually(lambda: provider.live_streams == 0)


async def test_provider_refusing_a_symbol_only_moves_that_subscription(store: Store) -> None:
    async with (
        provider_server("alpha") as (alpha, alpha_server),
        provider_server("beta", ["SYN:[A-Z0-9_]+"]) as (beta, beta_server),
    ):
        candidates = [target(alpha_server), target(beta_server)]
        async with serve_hub(store, lambda s, i: candidates) as gw:
            client = gw.client()
            await client.subscribe("SYN:ACME")
            await eventually(lambda: alpha.subscribed() == [("SYN:ACME", "1m")])
            # alpha's manifest serves SYN:[A-Z0-9]+ only: it rejects the whole call.
            await client.subscribe("SYN:A_B")
            await eventually(lambda: beta.subscribed() == [("SYN:A_B", "1m")])
            await eventually(lambda: alpha.subscribed() == [("SYN:ACME", "1m")])
            assert gw.hub.upstream() == {("SYN:ACME", "1m"): "alpha", ("SYN:A_B", "1m"): "beta"}
            client.cancel()


async def test_unmarked_bars_are_in_progress_until_a_later_period(store: Store) -> None:
    async with (
        provider_server("alpha") as (provider, server),
        serve_hub(store, lambda s, i: [target(server)]) as gw,
    ):
        client = gw.client()
        await client.subscribe("SYN:ACME")
        await eventually(lambda: provider.subscribed() == [("SYN:ACME", "1m")])
        provider.emit("SYN:ACME", "1m", 0, final=None)
        provider.emit("SYN:ACME", "1m", 0, final=None)
        provider.emit("SYN:ACME", "1m", 1, final=None)
        got = await client.bars(4)
        assert [(ts_index(m), m.metadata["final"]) for m in got] == [
            (0, "false"),
            (0, "false"),
            (0, "true"),
            (1, "false"),
        ]
        await eventually(lambda: gw.hub.writer.written == 1)
        client.cancel()


async def test_stop_ends_client_streams_with_unavailable(store: Store) -> None:
    async with (
        provider_server("alpha") as (provider, server),
        serve_hub(store, lambda s, i: [target(server)]) as gw,
    ):
        client = gw.client()
        await client.subscribe("SYN:ACME")
        await eventually(lambda: provider.live_streams == 1)
        await gw.hub.stop()
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.bars(1)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        await eventually(lambda: provider.live_streams == 0)
        assert gw.hub.clients == 0


async def gateway_smoke(gw: Gateway) -> None:  # pragma: no cover - helper for debugging
    client = gw.client()
    await client.subscribe("SYN:ACME")


@pytest.fixture
def dead_address() -> str:
    """A local address nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"127.0.0.1:{port}"


async def test_an_unreachable_provider_warns_once_not_on_every_retry(
    store: Store, dead_address: str
) -> None:
    targets = [UpstreamTarget("ghost", dead_address)]
    async with serve_hub(
        store, lambda s, i: targets, backoff=Backoff(initial=0.05, maximum=0.1)
    ) as gw:
        client = gw.client()
        await client.subscribe("SYN:ACME")
        entry = await client.warning()
        assert entry["code"] == "PROVIDER_FALLBACK"
        assert entry["provider"] == "ghost"
        assert "UNAVAILABLE" in entry["message"]
        await client.nothing_for(1.0)  # many more attempts, no more warnings
        assert gw.hub.upstream() in ({("SYN:ACME", "1m"): None}, {("SYN:ACME", "1m"): "ghost"})
        client.cancel()


async def test_bars_with_unusable_values_are_not_sent_or_stored(store: Store) -> None:
    async with (
        provider_server("alpha") as (provider, server),
        serve_hub(store, lambda s, i: [target(server)]) as gw,
    ):
        client = gw.client()
        await client.subscribe("SYN:ACME")
        await eventually(lambda: provider.subscribed() == [("SYN:ACME", "1m")])
        # The SDK validates what its providers send; a foreign provider might not.
        bad = pb.TimeSeriesData(
            symbol="SYN:ACME", interval="1m", open=1, high=0.5, low=2, close=1, volume=1
        )
        bad.timestamp.FromDatetime(T0)
        bad.metadata["final"] = "true"
        call = next(iter(gw.hub._calls.values()))
        gw.hub._on_message(call, bad)
        provider.emit("SYN:ACME", "1m", 1)
        [got] = await client.bars(1)
        assert ts_index(got) == 1
        assert gw.hub.skipped == 1
        await eventually(lambda: gw.hub.writer.written == 1)
        client.cancel()
