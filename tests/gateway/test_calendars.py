"""Session-aware reads end to end (docs/calendars.md): SDK providers on port 0 whose manifests
name a calendar, a real database (both backends), the gateway's gRPC door.

The equity provider serves 1h bars at :30 inside XNYS sessions only (Fri 2024-02-16, the weekend,
Presidents' Day Mon 2024-02-19, Tue 2024-02-20, ...), like Yahoo; the crypto one every hour.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from tests.support.calendars import shared_calendars
from timebase.auth import Caller
from timebase.calendars.model import Calendar
from timebase.gateway.bar_warnings import WARNINGS_METADATA_KEY
from timebase.gateway.providers import StaticProvider
from timebase.gateway.query import QueryApi
from timebase.grpc.data_provider_service import CALENDAR_METADATA_KEY
from timebase.sdk.errors import CalendarNotFound, UpstreamUnavailable
from timebase.sdk.intervals import Interval
from timebase.store import TimeRange

from .support import Gateway, RecordingProvider, request, running_gateway

HOUR = timedelta(hours=1)
XNYS_RULES = [{"symbols": "[A-Z]{1,5}", "calendar": "XNYS"}]
CRYPTO_RULES = [{"symbols": ".*", "calendar": "24/7"}]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def us(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000)


class SessionProvider(RecordingProvider):
    """RecordingProvider's bars, but only at the calendar's bar slots (session open + k·interval,
    again from the end of a lunch break; daily: 00:00 UTC of each trading date)."""

    def __init__(
        self,
        slug: str,
        cal: Calendar,
        *,
        intervals: tuple[str, ...] = ("1h", "1d"),
        rules: list[dict[str, str]] | None = None,
        symbols: tuple[str, ...] = ("AAPL",),
        **manifest_extra: Any,
    ) -> None:
        super().__init__(
            slug,
            list(intervals),
            calendars=rules or XNYS_RULES,
            symbols=list(symbols),
            **manifest_extra,
        )
        self.cal = cal

    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[pa.RecordBatch]:
        self.requests.append((symbol, interval, start, end))
        if self.fail is not None:
            raise self.fail
        step = Interval(interval).nominal
        stamps = []
        for s in self.cal.sessions(start, end):
            if interval == "1d":
                slots = [datetime(s.day.year, s.day.month, s.day.day, tzinfo=UTC)]
            else:
                slots = []
                for opened, closed in s.parts():
                    t = opened
                    while t < closed:
                        slots.append(t)
                        t += step
            stamps += [us(t) for t in slots if start <= t < end]
        if stamps:
            yield self._batch(sorted(set(stamps)))


@pytest.fixture
async def xnys() -> Calendar:
    return await shared_calendars().get("XNYS")


class Clock:
    """Wall clock and monotonic clock moved together by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.mono = 1000.0

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, delta: timedelta) -> None:
        self.now += delta
        self.mono += delta.total_seconds()


async def fetch(gw: Gateway, symbol: str, interval: str, start: Any, end: Any, **kw: Any) -> Any:
    """(timestamps, warnings, calendar) of GetHistoricalBars."""
    call = gw.data.GetHistoricalBars(request(symbol, interval, start, end, **kw))
    stamps = [ts async for chunk in call for ts in chunk.timestamps_us]
    trailing = dict(await call.trailing_metadata() or ())
    warnings = json.loads(trailing.get(WARNINGS_METADATA_KEY, "[]"))
    return stamps, warnings, trailing.get(CALENDAR_METADATA_KEY)


def session_bars(day: datetime, first: int = 0, last: int = 7) -> list[int]:
    """The 1h bars of a winter XNYS session on `day` (14:30 .. 20:30 UTC), [first, last)."""
    return [us(day + timedelta(hours=14, minutes=30) + i * HOUR) for i in range(first, last)]


async def test_weekend_and_holiday_are_not_gaps_a_hole_in_a_session_is(
    fresh_database_url: str, xnys: Calendar
) -> None:
    equity = SessionProvider("equity", xnys)
    async with running_gateway(fresh_database_url, equity, calendars=shared_calendars()) as gw:
        # Saturday to Tuesday 00:00: the weekend and Presidents' Day; nothing is asked.
        stamps, warnings, calendar = await fetch(
            gw, "AAPL", "1h", utc(2024, 2, 17), utc(2024, 2, 20)
        )
        assert (stamps, warnings, calendar) == ([], [], "XNYS")
        assert equity.requests == []
        # Friday is fetched and stored.
        stamps, warnings, _ = await fetch(gw, "AAPL", "1h", utc(2024, 2, 16), utc(2024, 2, 17))
        assert stamps == session_bars(utc(2024, 2, 16))
        assert warnings == []
        # The provider fails from now on: Friday to Wednesday misses only Tuesday's session.
        equity.fail = UpstreamUnavailable("upstream down")
        stamps, warnings, _ = await fetch(gw, "AAPL", "1h", utc(2024, 2, 16), utc(2024, 2, 21))
        assert stamps == session_bars(utc(2024, 2, 16))
        partial = [w for w in warnings if w["code"] == "PARTIAL_DATA"]
        assert [(w["start"], w["end"]) for w in partial] == [
            ("2024-02-20T14:30:00+00:00", "2024-02-20T21:00:00+00:00")
        ]
        # Wednesday is fetched once the provider is back; the summary tells the weekend and the
        # holiday (closed) from Tuesday's session (a true gap).
        equity.fail = None
        await fetch(gw, "AAPL", "1h", utc(2024, 2, 21), utc(2024, 2, 22))
        summary = await QueryApi(gw.history).summary("AAPL")
        (series,) = summary.series
        assert series.covered == (
            TimeRange(utc(2024, 2, 16), utc(2024, 2, 17)),
            TimeRange(utc(2024, 2, 21), utc(2024, 2, 22)),
        )
        gaps = summary.gaps[("1h", "equity")]
        assert gaps.calendar == "XNYS"
        assert gaps.gaps == (TimeRange(utc(2024, 2, 20, 14, 30), utc(2024, 2, 20, 21)),)
        assert gaps.closed == (
            TimeRange(utc(2024, 2, 17), utc(2024, 2, 20, 14, 30)),
            TimeRange(utc(2024, 2, 20, 21), utc(2024, 2, 21)),
        )


async def test_limit_on_1h_equity_bars_at_half_past_returns_exactly_n(
    fresh_database_url: str, xnys: Calendar
) -> None:
    equity = SessionProvider("equity", xnys)
    async with running_gateway(fresh_database_url, equity, calendars=shared_calendars()) as gw:
        end = utc(2024, 2, 20, 16)  # Tue, after the 14:30 and 15:30 bars
        stamps, _, calendar = await fetch(gw, "AAPL", "1h", None, end, limit=10)
        # 2 on Tuesday, none on the holiday and the weekend, 7 on Friday, 1 on Thursday.
        assert stamps == (
            session_bars(utc(2024, 2, 15), 6)
            + session_bars(utc(2024, 2, 16))
            + session_bars(utc(2024, 2, 20), 0, 2)
        )
        assert calendar == "XNYS"
        # The calendar sized the window: one request, starting at the 10th last bar.
        assert [r[2:] for r in equity.requests] == [(utc(2024, 2, 15, 20, 30), end)]
        stamps, _, _ = await fetch(gw, "AAPL", "1d", None, end, limit=3)
        assert stamps == [us(utc(2024, 2, 15)), us(utc(2024, 2, 16)), us(utc(2024, 2, 20))]


async def test_fridays_bars_on_a_sunday_are_fresh(fresh_database_url: str, xnys: Calendar) -> None:
    equity = SessionProvider("equity", xnys)
    crypto = RecordingProvider("crypto", ["1h", "1d"], calendars=CRYPTO_RULES, symbols=["BTC"])
    clock = Clock(utc(2024, 2, 16, 22))  # Friday, an hour after the close
    async with running_gateway(
        fresh_database_url,
        equity,
        crypto,
        calendars=shared_calendars(),
        clock=clock,
        monotonic=clock.monotonic,
    ) as gw:
        for symbol in ("AAPL", "BTC"):
            await fetch(gw, symbol, "1h", utc(2024, 2, 16), clock.now)
            await fetch(gw, symbol, "1d", utc(2024, 2, 12), clock.now)
        assert len(equity.requests) == len(crypto.requests) == 2
        clock.advance(timedelta(days=1, hours=14))  # Sunday 12:00
        stamps, warnings, _ = await fetch(gw, "AAPL", "1h", utc(2024, 2, 16), clock.now)
        assert stamps == session_bars(utc(2024, 2, 16))
        daily, daily_warnings, _ = await fetch(gw, "AAPL", "1d", utc(2024, 2, 12), clock.now)
        assert daily == [us(utc(2024, 2, d)) for d in range(12, 17)]
        assert warnings == daily_warnings == []
        assert len(equity.requests) == 2  # fresh: nothing asked on Sunday
        # Crypto (24/7) trades all weekend: as before calendars, the new hours are fetched.
        await fetch(gw, "BTC", "1h", utc(2024, 2, 16), clock.now)
        assert crypto.requests[-1][2:] == (utc(2024, 2, 16, 22), clock.now)
        # Monday's session (a holiday: none) then Tuesday's: asked again once it opened.
        clock.advance(timedelta(days=2, hours=3))  # Tue 15:00
        stamps, _, _ = await fetch(gw, "AAPL", "1h", utc(2024, 2, 16), clock.now)
        assert stamps[-1] == us(utc(2024, 2, 20, 14, 30))
        assert len(equity.requests) == 3


async def test_routing_ranks_providers_by_freshness_against_the_calendar(
    fresh_database_url: str, xnys: Calendar
) -> None:
    alpha, beta = SessionProvider("alpha", xnys), SessionProvider("beta", xnys)
    clock = Clock(utc(2024, 2, 16, 22))  # Friday, after the close
    async with running_gateway(
        fresh_database_url,
        alpha,
        beta,
        calendars=shared_calendars(),
        clock=clock,
        monotonic=clock.monotonic,
    ) as gw:
        for slug, latency in (("alpha", 50.0), ("beta", 1.0)):
            view = StaticProvider(
                slug, gw.servers[slug].target, gw.providers[slug].manifest, latency_ms=latency
            )
            gw.source.set(view)
        await fetch(gw, "AAPL", "1h", utc(2024, 2, 16), clock.now, provider="alpha")
        await fetch(gw, "AAPL", "1h", utc(2024, 2, 15), utc(2024, 2, 16), provider="beta")
        clock.advance(timedelta(days=1, hours=14))  # Sunday 12:00
        decision = await gw.history.rank("AAPL", Interval.H1)
        assert [(c.slug, c.reasons[2]) for c in decision.candidates] == [
            ("alpha", "latest stored bar 2024-02-16T20:30:00+00:00, up to date by XNYS"),
            (
                "beta",
                "latest stored bar 2024-02-15T20:30:00+00:00, behind since "
                "2024-02-16T14:30:00+00:00 by XNYS",
            ),
        ]
        # With Friday's bars, beta is as fresh as alpha on a Sunday: the faster one first.
        await fetch(gw, "AAPL", "1h", utc(2024, 2, 16), utc(2024, 2, 17), provider="beta")
        decision = await gw.history.rank("AAPL", Interval.H1)
        assert [c.slug for c in decision.candidates] == ["beta", "alpha"]


HK_RULES = [{"symbols": "[0-9]{4}[.]HK", "calendar": "XHKG"}]


async def test_a_lunch_break_is_closed_time(fresh_database_url: str) -> None:
    xhkg = await shared_calendars().get("XHKG")
    hk = SessionProvider("hk", xhkg, rules=HK_RULES, symbols=("0700[.]HK",))
    async with running_gateway(fresh_database_url, hk, calendars=shared_calendars()) as gw:
        # Fri 2024-03-08 (Hong Kong 09:30-12:00, 13:00-16:00; 01:30-04:00, 05:00-08:00 UTC):
        # limit=N counts the slots of both halves, the afternoon's from 13:00.
        end = utc(2024, 3, 8, 6, 30)
        stamps, _, calendar = await fetch(gw, "0700.HK", "1h", None, end, limit=4)
        assert stamps == [
            us(utc(2024, 3, 8, 2, 30)),
            us(utc(2024, 3, 8, 3, 30)),
            us(utc(2024, 3, 8, 5)),
            us(utc(2024, 3, 8, 6)),
        ]
        assert calendar == "XHKG"
        assert [r[2:] for r in hk.requests] == [(utc(2024, 3, 8, 2, 30), end)]
        # The lunch hour is neither fetched nor a gap.
        stamps, warnings, _ = await fetch(
            gw, "0700.HK", "1h", utc(2024, 3, 8, 4), utc(2024, 3, 8, 5)
        )
        assert (stamps, warnings) == ([], [])
        assert len(hk.requests) == 1
        # A failing provider: PARTIAL_DATA names the open halves only.
        hk.fail = UpstreamUnavailable("upstream down")
        stamps, warnings, _ = await fetch(gw, "0700.HK", "1h", utc(2024, 3, 7), end)
        assert len(stamps) == 4
        partial = [w for w in warnings if w["code"] == "PARTIAL_DATA"]
        assert [(w["start"], w["end"]) for w in partial] == [
            ("2024-03-07T01:30:00+00:00", "2024-03-07T04:00:00+00:00"),
            ("2024-03-07T05:00:00+00:00", "2024-03-07T08:00:00+00:00"),
            ("2024-03-08T01:30:00+00:00", "2024-03-08T02:30:00+00:00"),
        ]
        # Thursday's halves fetched apart: the summary counts the lunch hour between them as
        # closed, and Friday's missing first hour as the only gap.
        hk.fail = None
        await fetch(gw, "0700.HK", "1h", utc(2024, 3, 7, 1, 30), utc(2024, 3, 7, 4))
        await fetch(gw, "0700.HK", "1h", utc(2024, 3, 7, 5), utc(2024, 3, 7, 8))
        summary = await QueryApi(gw.history).summary("0700.HK")
        gaps = summary.gaps[("1h", "hk")]
        assert gaps.calendar == "XHKG"
        assert gaps.gaps == (TimeRange(utc(2024, 3, 8, 1, 30), utc(2024, 3, 8, 2, 30)),)
        assert gaps.closed == (
            TimeRange(utc(2024, 3, 7, 4), utc(2024, 3, 7, 5)),
            TimeRange(utc(2024, 3, 7, 8), utc(2024, 3, 8, 1, 30)),
        )


async def test_crypto_24_7_behaves_as_continuous_time(fresh_database_url: str) -> None:
    crypto = RecordingProvider("crypto", ["1h", "1d"], calendars=CRYPTO_RULES)
    plain = RecordingProvider("plain", ["1h", "1d"])
    async with running_gateway(
        fresh_database_url, crypto, plain, calendars=shared_calendars()
    ) as gw:
        weekend = (utc(2024, 2, 17), utc(2024, 2, 19))
        got, warnings, calendar = await fetch(gw, "BTC", "1h", *weekend, provider="crypto")
        base, base_warnings, none = await fetch(gw, "BTC", "1h", *weekend, provider="plain")
        assert len(got) == len(base) == 48
        assert (warnings, base_warnings, calendar, none) == ([], [], "24/7", None)
        got, _, _ = await fetch(
            gw, "ETH", "1h", None, utc(2024, 2, 19), limit=30, provider="crypto"
        )
        base, _, _ = await fetch(
            gw, "ETH", "1h", None, utc(2024, 2, 19), limit=30, provider="plain"
        )
        assert got == base
        assert len(got) == 30
        assert [r[2:] for r in crypto.requests[1:]] == [r[2:] for r in plain.requests[1:]]


async def test_an_ingested_data_set_names_its_calendar(fresh_database_url: str) -> None:
    async with running_gateway(fresh_database_url, calendars=shared_calendars()) as gw:
        api = QueryApi(gw.history)
        admin = Caller.local("test")
        table = pa.table(
            {
                "symbol": ["MINE"] * 2,
                "timestamp": pa.array(
                    [utc(2024, 2, 16, 14, 30), utc(2024, 2, 20, 14, 30)],
                    pa.timestamp("us", tz="UTC"),
                ),
                "open": [1.0, 2.0],
                "high": [1.0, 2.0],
                "low": [1.0, 2.0],
                "close": [1.0, 2.0],
                "volume": [1.0, 2.0],
                "interval": ["1h"] * 2,
                "provider": ["my-data"] * 2,
            }
        )
        with pytest.raises(CalendarNotFound, match="unknown calendar 'XNOPE'"):
            await api.ingest(table, caller=admin, calendar="XNOPE")
        assert await gw.store.latest(["MINE"]) == {}  # refused before any write
        assert await api.ingest(table, caller=admin, calendar="XNYS") == 2
        stamps, _, calendar = await fetch(
            gw, "MINE", "1h", utc(2024, 2, 16), utc(2024, 2, 21), provider="my-data"
        )
        assert len(stamps) == 2
        assert calendar == "XNYS"
