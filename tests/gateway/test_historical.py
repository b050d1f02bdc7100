"""The historical path end to end: SDK providers on port 0, a real database, the gateway's gRPC."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import grpc
import pytest

from timebase.core.config import RoutingConfig
from timebase.gateway.bar_warnings import WARNINGS_METADATA_KEY
from timebase.provider import provider_pb2 as pb
from timebase.sdk.errors import (
    RateLimited,
    SymbolNotFound,
    UpstreamUnavailable,
)
from timebase.sdk.status import retry_after_from_metadata
from timebase.v1 import bars_pb2 as v1

from .support import DAY, T0, Gateway, RecordingProvider, bar_values, request, running_gateway

HOUR = timedelta(hours=1)


def rows(chunks: list[pb.BarChunk] | list[v1.GetBarsResponse]) -> list[tuple[Any, ...]]:
    out = []
    for c in chunks:
        for i, ts in enumerate(c.timestamps_us):
            out.append((c.provider, ts, c.open[i], c.high[i], c.low[i], c.close[i], c.volume[i]))
    return out


async def bars(gw: Gateway, req: pb.HistoricalDataRequest, metadata=()) -> list[tuple[Any, ...]]:
    return rows([c async for c in gw.data.GetHistoricalBars(req, metadata=metadata)])


def warnings_of(trailing: Any) -> list[dict[str, Any]]:
    for key, value in trailing or ():
        if key == WARNINGS_METADATA_KEY:
            return list(json.loads(value))
    return []


async def test_symbol_centric_cold_and_warm_are_identical_and_gaps_only_are_fetched(
    fresh_database_url,
):
    alpha, beta = RecordingProvider("alpha", base=100), RecordingProvider("beta", base=500)
    async with running_gateway(fresh_database_url, alpha, beta) as gw:
        cold = await bars(gw, request("syn:acme", "1d", T0, T0 + 10 * DAY))
        assert len(cold) == 10
        (chosen,) = {r[0] for r in cold}
        provider = gw.providers[chosen]
        assert [r[1] for r in cold] == [int((T0 + i * DAY).timestamp() * 1e6) for i in range(10)]
        assert cold[0][2:] == bar_values(provider.base, cold[0][1])
        warm = await bars(gw, request("SYN:ACME", "1d", T0, T0 + 10 * DAY))
        assert warm == cold
        assert len(provider.requests) == 1
        # Per-bar stream: same rows.
        msgs = [
            m async for m in gw.data.GetHistoricalData(request("SYN:ACME", "1d", T0, T0 + 10 * DAY))
        ]
        assert [(m.provider, m.close) for m in msgs] == [(r[0], r[5]) for r in cold]
        assert {m.symbol for m in msgs} == {"SYN:ACME"}
        # A partial overlap fetches only the gap, from the same (sticky) provider.
        more = await bars(gw, request("SYN:ACME", "1d", T0 + 5 * DAY, T0 + 15 * DAY))
        assert provider.requests[-1][2:] == (T0 + 10 * DAY, T0 + 15 * DAY)
        assert more[:5] == cold[5:]
        assert len(more) == 10
        other = beta if provider is alpha else alpha
        assert other.requests == []


async def test_provider_aware_by_field_and_metadata_and_store_only_providers(fresh_database_url):
    alpha, beta = RecordingProvider("alpha", base=100), RecordingProvider("beta", base=500)
    async with running_gateway(fresh_database_url, alpha, beta) as gw:
        got = await bars(gw, request("SYN:X", "1d", T0, T0 + 3 * DAY, provider="beta"))
        assert {r[0] for r in got} == {"beta"}
        assert got[0][5] == bar_values(500, got[0][1])[3]
        via_metadata = await bars(
            gw, request("SYN:X", "1d", T0, T0 + 3 * DAY), (("x-timebase-provider", "alpha"),)
        )
        assert {r[0] for r in via_metadata} == {"alpha"}
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await bars(gw, request("SYN:X", "1d", T0, T0 + 3 * DAY, provider="nobody"))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert "unknown provider 'nobody'" in str(err.value.details())
        # Bars imported under a name no add-on runs are served from the store, never fetched.
        table = await gw.history.store.read_table("SYN:X", "1d", T0, T0 + 3 * DAY, provider="beta")
        imported = table.set_column(
            table.schema.get_field_index("provider"),
            "provider",
            __import__("pyarrow").array(["imported"] * table.num_rows),
        )
        await gw.store.ingest(imported)
        got = await bars(gw, request("SYN:X", "1d", T0, T0 + 3 * DAY, provider="imported"))
        assert [r[1:] for r in got] == [
            r[1:] for r in await bars(gw, request("SYN:X", "1d", T0, T0 + 3 * DAY, provider="beta"))
        ]
        assert {r[0] for r in got} == {"imported"}


async def test_failover_when_the_first_provider_dies_mid_stream(fresh_database_url):
    alpha, beta = RecordingProvider("alpha", base=100), RecordingProvider("beta", base=500)
    routing = RoutingConfig(priorities={"alpha": 1, "beta": 2}, backoff_seconds=0.01)
    async with running_gateway(fresh_database_url, alpha, beta, routing=routing) as gw:
        alpha.hang_after = 4
        call = gw.data.GetHistoricalBars(request("SYN:ACME", "1h", T0, T0 + 10 * HOUR))
        task = asyncio.create_task(_collect(call))
        await alpha.started_streaming.wait()
        await gw.servers["alpha"].stop(grace=0)  # the provider process goes away
        got = rows(await task)
        assert [r[0] for r in got] == ["alpha"] * 4 + ["beta"] * 6
        assert [r[1] for r in got] == sorted({r[1] for r in got})  # no duplicates, in order
        assert len(got) == 10
        assert beta.requests[0][2] == T0 + 3 * HOUR + timedelta(microseconds=1)
        codes = [w["code"] for w in warnings_of(await call.trailing_metadata())]
        assert "PROVIDER_FALLBACK" in codes
        # Warm: the same rows, from the store.
        assert await bars(gw, request("SYN:ACME", "1h", T0, T0 + 10 * HOUR)) == got


async def _collect(call: Any) -> list[Any]:
    return [c async for c in call]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_circuit_breaker_opens_and_recovers(fresh_database_url):
    alpha, beta = RecordingProvider("alpha"), RecordingProvider("beta", base=500)
    routing = RoutingConfig(
        priorities={"alpha": 1, "beta": 2},
        retries=0,
        circuit_failures=2,
        circuit_reset_seconds=30.0,
        backoff_seconds=0.01,
    )
    async with running_gateway(fresh_database_url, alpha, beta, routing=routing) as gw:
        clock = FakeClock()
        gw.history.breaker.clock = clock
        alpha.fail = UpstreamUnavailable("upstream down")
        for day in range(3):
            got = await bars(gw, request("SYN:A", "1d", T0 + day * DAY, T0 + (day + 1) * DAY))
            assert [r[0] for r in got] == ["beta"]
        assert len(alpha.requests) == 2  # the third request skipped alpha: circuit open
        assert gw.history.breaker.state("alpha") == "open"
        assert gw.history.breaker.retry_in("alpha") == 30.0
        reply = await gw.v1.ListProviders(v1.ListProvidersRequest())
        assert {p.slug: p.circuit for p in reply.providers}["alpha"] == "open"
        alpha.fail = None
        clock.now += 29.9  # not yet: still open, alpha not asked
        got = await bars(gw, request("SYN:B", "1d", T0, T0 + DAY))
        assert [r[0] for r in got] == ["beta"]
        assert len(alpha.requests) == 2
        clock.now += 0.1  # reset_after reached: one half-open trial goes to alpha
        assert gw.history.breaker.state("alpha") == "half_open"
        got = await bars(gw, request("SYN:C", "1d", T0, T0 + DAY))
        assert [r[0] for r in got] == ["alpha"]  # half-open trial succeeded
        assert len(alpha.requests) == 3
        assert gw.history.breaker.state("alpha") == "closed"


async def test_open_end_is_fetched_again_only_after_its_freshness_ttl(fresh_database_url):
    """Recent bars (the open end: 2 bars back from now) are fetched again once FRESHNESS_TTL
    (1 h for 1d) has passed since they were fetched, not before."""
    now = T0 + 5 * DAY + 12 * HOUR
    seconds = FakeClock()
    alpha = RecordingProvider("alpha")
    async with running_gateway(
        fresh_database_url, alpha, clock=lambda: now, monotonic=seconds
    ) as gw:
        req = request("SYN:A", "1d", T0, T0 + 5 * DAY)  # the five complete days
        first = await bars(gw, req)
        assert len(first) == 5
        assert alpha.requests == [("SYN:A", "1d", T0, T0 + 5 * DAY)]
        seconds.now += 3599.0  # within the TTL: the store answers
        assert await bars(gw, req) == first
        assert len(alpha.requests) == 1
        seconds.now += 1.0  # TTL reached: only the open end (the last 2 days) is asked again
        assert await bars(gw, req) == first
        assert alpha.requests[1:] == [("SYN:A", "1d", T0 + 3 * DAY + 12 * HOUR, T0 + 5 * DAY)]


async def test_all_providers_down_names_each(fresh_database_url):
    alpha, beta = RecordingProvider("alpha"), RecordingProvider("beta")
    routing = RoutingConfig(retries=1, backoff_seconds=0.01)
    async with running_gateway(fresh_database_url, alpha, beta, routing=routing) as gw:
        alpha.fail = UpstreamUnavailable("alpha upstream down")
        await gw.servers["beta"].stop(grace=0)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await bars(gw, request("SYN:A", "1d", T0, T0 + DAY))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        message = str(err.value.details())
        assert message.startswith("every provider failed for SYN:A 1d (")
        assert "alpha: UNAVAILABLE: alpha upstream down" in message
        assert "beta: UNAVAILABLE" in message
        # Not found everywhere → NOT_FOUND, remembered in the negative cache.
        alpha.fail = SymbolNotFound("no such symbol")
        gw.source.remove("beta")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await bars(gw, request("SYN:NOPE", "1d", T0, T0 + DAY))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
        assert "alpha: NOT_FOUND: no such symbol" in str(err.value.details())
        assert gw.history.negative.contains("alpha", "SYN:NOPE")


async def test_derived_4h_and_1wk_match_hand_computed_aggregates(fresh_database_url):
    hourly = RecordingProvider("hourly", intervals=["1h", "1d"], base=100)
    async with running_gateway(fresh_database_url, hourly) as gw:
        got = rows([c async for c in gw.v1.GetBars(_v1("SYN:ACME", "4h", T0, T0 + 12 * HOUR))])
        assert len(got) == 3
        for i, row in enumerate(got):
            start = int((T0 + 4 * i * HOUR).timestamp() * 1e6)
            parts = [bar_values(100, start + h * 3_600_000_000) for h in range(4)]
            assert row == (
                "hourly",
                start,
                parts[0][0],
                max(p[1] for p in parts),
                min(p[2] for p in parts),
                parts[-1][3],
                sum(p[4] for p in parts),
            )
        assert hourly.requests[0][1] == "1h"
        msgs = [
            m async for m in gw.data.GetHistoricalData(request("SYN:ACME", "4h", T0, T0 + 4 * HOUR))
        ]
        assert dict(msgs[0].metadata) == {"derived_from": "1h"}
        # Weekly bars from daily, weeks starting on Monday (T0 is a Monday).
        weekly = rows(
            [c async for c in gw.v1.GetBars(_v1("SYN:ACME", "1wk", T0 + 2 * DAY, T0 + 21 * DAY))]
        )
        assert [w[1] for w in weekly] == [int((T0 + k * 7 * DAY).timestamp() * 1e6) for k in (1, 2)]
        days = [bar_values(100, int((T0 + (7 + d) * DAY).timestamp() * 1e6)) for d in range(7)]
        assert weekly[0][2:] == (
            days[0][0],
            max(d[1] for d in days),
            min(d[2] for d in days),
            days[-1][3],
            sum(d[4] for d in days),
        )


def _v1(symbol, interval, start, end, **kw) -> v1.GetBarsRequest:
    msg = v1.GetBarsRequest(symbol=symbol, interval=interval, **kw)
    msg.start_time.FromDatetime(start)
    msg.end_time.FromDatetime(end)
    return msg


async def test_warnings_travel_in_trailing_metadata(fresh_database_url):
    limited = RecordingProvider("limited", max_lookback_days=30)
    async with running_gateway(fresh_database_url, limited) as gw:
        from datetime import UTC, datetime

        now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        call = gw.v1.GetBars(_v1("SYN:ACME", "1d", now - 60 * DAY, now - 20 * DAY))
        got = rows([c async for c in call])
        assert 9 <= len(got) <= 11
        (warning,) = warnings_of(await call.trailing_metadata())
        assert warning["code"] == "PARTIAL_DATA"
        assert warning["provider"] == "limited"
        assert warning["message"] == (
            "'limited' keeps 30 days of 1d bars; older ones are not available"
        )
        assert set(warning) == {"code", "message", "provider", "start", "end"}


async def test_two_hundred_identical_cold_queries_cause_one_upstream_fetch(fresh_database_url):
    alpha = RecordingProvider("alpha")
    async with running_gateway(fresh_database_url, alpha) as gw:
        req = request("SYN:ACME", "1h", T0, T0 + 48 * HOUR)
        results = await asyncio.gather(*(bars(gw, req) for _ in range(200)))
        assert len(alpha.requests) == 1
        assert all(r == results[0] for r in results)
        assert len(results[0]) == 48


async def test_limit_returns_the_most_recent_bars(fresh_database_url):
    alpha = RecordingProvider("alpha")
    async with running_gateway(fresh_database_url, alpha) as gw:
        got = await bars(gw, request("SYN:ACME", "1d", T0, T0 + 30 * DAY, limit=5))
        assert [r[1] for r in got] == [int((T0 + d * DAY).timestamp() * 1e6) for d in range(25, 30)]
        got = await bars(gw, request("SYN:ACME", "1d", None, T0 + 30 * DAY, limit=40))
        assert len(got) == 40
        assert got[-1][1] == int((T0 + 29 * DAY).timestamp() * 1e6)


async def test_refresh_and_invalidate_fetch_again(fresh_database_url):
    alpha = RecordingProvider("alpha")
    async with running_gateway(fresh_database_url, alpha) as gw:
        req = request("SYN:ACME", "1d", T0, T0 + 5 * DAY)
        await bars(gw, req)
        await bars(gw, req, (("x-timebase-refresh", "true"),))
        assert len(alpha.requests) == 2
        reply = await gw.v1.InvalidateRange(
            v1.InvalidateRangeRequest(
                symbol="SYN:ACME", interval="1d", start_time=req.start_time, end_time=req.end_time
            )
        )
        assert reply.deleted == 5
        assert list(reply.providers) == ["alpha"]
        assert len(await bars(gw, req)) == 5
        assert len(alpha.requests) == 3


async def test_get_symbol_providers_ranks_with_reasons(fresh_database_url):
    alpha = RecordingProvider("alpha")
    hourly = RecordingProvider("hourly", intervals=["1h"])
    other = RecordingProvider("other", symbols=["OTHER:.*"])
    routing = RoutingConfig(priorities={"hourly": 1})
    async with running_gateway(fresh_database_url, alpha, hourly, other, routing=routing) as gw:
        reply = await gw.v1.GetSymbolProviders(
            v1.GetSymbolProvidersRequest(symbol="syn:acme", interval="4h")
        )
        assert [(c.slug, c.rank, c.derived_from) for c in reply.candidates] == [
            ("hourly", 1, "1h"),
            ("alpha", 2, "1h"),
        ]
        assert reply.candidates[0].reasons[0] == "priority 1 (configured)"
        assert [(e.slug, e.reason) for e in reply.excluded] == [
            ("other", "symbol does not match its patterns (OTHER:.*)")
        ]


async def test_rate_limited_refresh_serves_the_stored_bars_with_a_warning(fresh_database_url):
    alpha = RecordingProvider("alpha", base=100)
    async with running_gateway(fresh_database_url, alpha) as gw:
        stored = await bars(gw, request("SYN:ACME", "1d", T0, T0 + 5 * DAY))
        assert len(stored) == 5
        alpha.fail = RateLimited("60 requests per minute used up", retry_after=30)
        call = gw.data.GetHistoricalBars(request("SYN:ACME", "1d", T0, T0 + 5 * DAY, refresh=True))
        again = rows([c async for c in call])
        assert again == stored  # the cached bars, not an error
        warnings = warnings_of(await call.trailing_metadata())
        assert [(w["code"], w["provider"]) for w in warnings] == [("RATE_LIMITED", "alpha")]
        assert "served the stored bars" in warnings[0]["message"]
        assert "RESOURCE_EXHAUSTED" in warnings[0]["message"]
        # A range with nothing stored cannot be served from the cache: RESOURCE_EXHAUSTED with
        # a RetryInfo saying when to come back.
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await bars(gw, request("SYN:ACME", "1d", T0 + 30 * DAY, T0 + 35 * DAY))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        retry_after = retry_after_from_metadata(err.value.trailing_metadata())
        assert retry_after is not None
        assert 0 < retry_after <= 30


async def test_a_provider_that_declares_the_symbol_is_asked_before_catch_all_ones(
    fresh_database_url,
):
    # "anything" takes every symbol (like local files); "syn" names the SYN: namespace.
    anything = RecordingProvider("anything", base=100)
    syn = RecordingProvider("syn", base=500, symbols=["SYN:[A-Z]+"])
    async with running_gateway(fresh_database_url, anything, syn) as gw:
        reply = await gw.v1.GetSymbolProviders(
            v1.GetSymbolProvidersRequest(symbol="SYN:ACME", interval="1d")
        )
        assert [c.slug for c in reply.candidates] == ["syn", "anything"]
        assert "declares the symbol" in reply.candidates[0].reasons
        assert "accepts any symbol" in reply.candidates[1].reasons
        got = await bars(gw, request("SYN:ACME", "1d", T0, T0 + 2 * DAY))
        assert {r[0] for r in got} == {"syn"}
        assert anything.requests == []
