"""Token-bucket rate limiter, retry with backoff, and bar validation."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from timebase.sdk import Bar, RateLimited, RateLimiter, UpstreamUnavailable, retry
from timebase.sdk.errors import SymbolNotFound
from timebase.sdk.retry import backoff_delay
from timebase.sdk.validation import BarValidator


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_token_bucket_per_minute_and_day() -> None:
    clock = Clock()
    limiter = RateLimiter(requests_per_minute=2, requests_per_day=3, max_wait=0, clock=clock)
    assert limiter.try_acquire()
    assert limiter.try_acquire()
    assert not limiter.try_acquire()  # minute bucket empty
    assert limiter.wait_time() == pytest.approx(30.0)
    clock.now = 30.0
    await limiter.acquire()  # third request of the day
    clock.now = 120.0
    with pytest.raises(RateLimited) as info:
        await limiter.acquire()  # minute bucket full again, day bucket empty
    assert info.value.retry_after == pytest.approx(86400 / 3 - 120, rel=1e-3)


class Sleeper:
    """An injected sleep: records each wait and advances the injected clock by it."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.now += seconds


async def test_unlimited_limiter_never_waits() -> None:
    clock = Clock()
    sleep = Sleeper(clock)
    limiter = RateLimiter(clock=clock, sleep=sleep)
    assert limiter.unlimited
    for _ in range(1000):
        await limiter.acquire()
        assert limiter.try_acquire()
    assert sleep.waits == []
    assert limiter.wait_time() == 0.0


async def test_limiter_waits_exactly_until_a_token_is_back() -> None:
    clock = Clock()
    sleep = Sleeper(clock)
    limiter = RateLimiter(requests_per_minute=60, max_wait=5.0, clock=clock, sleep=sleep)
    for _ in range(60):  # the full bucket: no wait
        await limiter.acquire()
    assert sleep.waits == []
    await limiter.acquire()  # empty: one token comes back after 1 s
    assert sleep.waits == [pytest.approx(1.0)]
    assert clock.now == pytest.approx(1.0)
    with pytest.raises(RateLimited):
        await limiter.acquire(max_wait=0.5)  # the next token is 1 s away: too long
    assert len(sleep.waits) == 1


async def test_retry_backs_off_on_transient_errors_only() -> None:
    delays: list[float] = []

    async def sleep(d: float) -> None:
        delays.append(d)

    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise UpstreamUnavailable("down")
        return "ok"

    assert await retry(flaky, attempts=4, base=1.0, sleep=sleep, rng=lambda: 1.0) == "ok"
    assert delays == [1.0, 2.0]

    async def missing() -> str:
        raise SymbolNotFound("nope")

    delays.clear()
    with pytest.raises(SymbolNotFound):
        await retry(missing, sleep=sleep)
    assert delays == []

    async def limited() -> str:
        raise RateLimited("slow", retry_after=3.0)

    with pytest.raises(RateLimited):
        await retry(limited, attempts=2, base=0.1, sleep=sleep, rng=lambda: 0.5)
    assert delays == [3.0]  # the server's retry_after wins over a shorter backoff


def test_backoff_is_capped_and_jittered() -> None:
    assert backoff_delay(10, base=1, max_delay=5, rng=lambda: 1.0) == 5
    assert backoff_delay(3, base=1, max_delay=30, rng=lambda: 0.25) == 1.0


def test_validator_intraday_not_forced_to_grid_daily_at_midnight() -> None:
    start = datetime(2024, 1, 2, tzinfo=UTC)
    hourly = BarValidator("1h", start, start + timedelta(days=1))
    cols = hourly.bars([Bar(start + timedelta(hours=14, minutes=30), 1, 2, 0.5, 1, 1)])
    assert len(cols) == 1  # 14:30 is fine for US equities' hourly bars
    daily = BarValidator("1d", start, start + timedelta(days=5))
    cols = daily.bars(
        [
            Bar(start, 1, 2, 0.5, 1, 1),
            Bar(start + timedelta(days=1, hours=14, minutes=30), 1, 2, 0.5, 1, 1),
            Bar(start + timedelta(days=2), 1, 2, 0.5, 1, math.inf),
        ]
    )
    assert len(cols) == 1
    assert dict(daily.skipped) == {"misaligned": 1, "not_finite": 1}


def test_validator_record_batches_vectorised_and_across_batches() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    v = BarValidator("1d", start, start + timedelta(days=10))
    days = [start + timedelta(days=i) for i in range(6)]

    def batch(ts: list[datetime], low: list[float]) -> pa.RecordBatch:
        n = len(ts)
        return pa.RecordBatch.from_pydict(
            {
                "timestamp": pa.array(ts, pa.timestamp("ms", tz="UTC")),
                "open": [2.0] * n,
                "high": [3.0] * n,
                "low": low,
                "close": [2.0] * n,
                "volume": [1] * n,
            }
        )

    first = v.batch(batch(days[:3], [1.0, 5.0, 1.0]))  # second row: low above open
    second = v.batch(batch([days[2], days[3], days[5]], [1.0, 1.0, 1.0]))  # days[2] repeats
    assert len(first) == 2
    assert len(second) == 2
    assert v.skipped["ohlc"] == 1
    assert v.skipped["not_increasing"] == 1
    assert first.ts[0] == 1704067200000000
