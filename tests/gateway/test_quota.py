"""Quota decisions without a database (no store: counts live in memory) on an injected clock,
then what is persisted and read back after a restart (PostgreSQL)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from timebase.gateway.quota import QuotaTracker, QuotaUse
from timebase.sdk.errors import DatabaseError
from timebase.sdk.manifest import RateLimits
from timebase.store import Store
from timebase.store.pool import Connection


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def tracker(now: datetime = datetime(2024, 5, 6, 23, 58, 40, 500_000, tzinfo=UTC)):
    clock = Clock(now)
    return QuotaTracker(clock=clock), clock


async def test_an_unused_provider_has_all_its_quota() -> None:
    quota, _ = tracker()
    status = quota.status("a", RateLimits(requests_per_minute=10, requests_per_day=100))
    assert (status.available, status.remaining, status.retry_after, status.reason) == (
        True,
        1.0,
        None,
        "",
    )
    assert status.use == QuotaUse(
        day_start=datetime(2024, 5, 6, tzinfo=UTC),
        day_used=0,
        minute_start=datetime(2024, 5, 6, 23, 58, tzinfo=UTC),
        minute_used=0,
        blocked_until=None,
    )


async def test_without_limits_the_quota_never_runs_out() -> None:
    quota, _ = tracker()
    await quota.consume("a", 1000)
    for limits in (None, RateLimits()):
        status = quota.status("a", limits)
        assert (status.available, status.remaining) == (True, 1.0)


async def test_remaining_is_the_tighter_of_day_and_minute() -> None:
    quota, _ = tracker()
    await quota.consume("a", 3)
    await quota.consume("a")
    assert (quota.use("a").day_used, quota.use("a").minute_used) == (4, 4)
    assert quota.status(
        "a", RateLimits(requests_per_minute=10, requests_per_day=100)
    ).remaining == (0.6)
    assert quota.status("a", RateLimits(requests_per_minute=100, requests_per_day=5)).remaining == (
        0.19999999999999996
    )
    assert quota.status("a", RateLimits(requests_per_day=8)).remaining == 0.5
    assert quota.status("a", RateLimits(requests_per_minute=16)).remaining == 0.75


async def test_minute_quota_used_up_until_the_next_minute() -> None:
    quota, clock = tracker()
    limits = RateLimits(requests_per_minute=2, requests_per_day=100)
    await quota.consume("a", 2)
    status = quota.status("a", limits)
    assert (status.available, status.remaining, status.retry_after, status.reason) == (
        False,
        0.0,
        19.5,
        "quota of 2 requests per minute used up",
    )
    assert status.use is quota.use("a")
    assert quota.status("b", limits).available
    clock.now = datetime(2024, 5, 6, 23, 59, tzinfo=UTC)
    status = quota.status("a", limits)
    assert (status.available, status.remaining) == (True, 0.98)
    assert (status.use.minute_used, status.use.day_used) == (0, 2)


async def test_daily_quota_used_up_until_utc_midnight() -> None:
    quota, clock = tracker()
    limits = RateLimits(requests_per_minute=100, requests_per_day=3)
    await quota.consume("a", 1)
    clock.now += timedelta(minutes=1)
    await quota.consume("a", 2)
    status = quota.status("a", limits)
    assert (status.available, status.remaining, status.retry_after, status.reason) == (
        False,
        0.0,
        19.5,
        "daily quota of 3 requests used up",
    )
    assert status.use is quota.use("a")
    clock.now = datetime(2024, 5, 7, tzinfo=UTC)
    status = quota.status("a", limits)
    assert (status.available, status.remaining) == (True, 1.0)
    assert status.use.day_start == datetime(2024, 5, 7, tzinfo=UTC)


async def test_day_quota_is_checked_before_minute_quota() -> None:
    quota, _ = tracker()
    await quota.consume("a", 2)
    status = quota.status("a", RateLimits(requests_per_minute=2, requests_per_day=2))
    assert status.reason == "daily quota of 2 requests used up"
    assert status.retry_after == 79.5


async def test_a_block_holds_until_its_end_then_lifts() -> None:
    quota, clock = tracker(datetime(2024, 5, 6, 12, 0, 0, tzinfo=UTC))
    await quota.block("a", 90.0)
    assert quota.use("a").blocked_until == datetime(2024, 5, 6, 12, 1, 30, tzinfo=UTC)
    clock.now += timedelta(seconds=30)
    status = quota.status("a", None)
    assert (status.available, status.remaining, status.retry_after, status.reason) == (
        False,
        0.0,
        60.0,
        "rate limited for 60 s more",
    )
    assert status.use is quota.use("a")
    clock.now += timedelta(seconds=59, microseconds=999_999)
    assert not quota.status("a", None).available
    clock.now += timedelta(microseconds=1)
    status = quota.status("a", None)
    assert (status.available, status.use.blocked_until) == (True, None)


def test_the_default_clock_is_utc_now() -> None:
    before = datetime.now(UTC)
    use = QuotaTracker().use("a")
    after = datetime.now(UTC)
    assert use.minute_start.tzinfo is UTC
    assert before.replace(second=0, microsecond=0) <= use.minute_start <= after
    assert use.day_start == use.minute_start.replace(hour=0, minute=0)


async def test_a_negative_block_is_no_block() -> None:
    quota, _ = tracker()
    await quota.block("a", -5.0)
    assert quota.status("a", None).available


async def test_load_and_persist_without_a_store_keep_counts_in_memory() -> None:
    quota, _ = tracker()
    await quota.load()
    await quota.consume("a", 2)
    await quota.block("b", 1.0)
    assert quota.use("a").day_used == 2
    assert not quota.status("b", None).available


# -- persistence (these need PostgreSQL) --------------------------------------------------------


async def test_counts_and_blocks_survive_a_restart(fresh_database_url: str) -> None:
    store = Store(fresh_database_url, pool_size=2, run_retention=False)
    await store.start()
    try:
        clock = Clock(datetime(2024, 5, 6, 12, 0, 30, tzinfo=UTC))
        first = QuotaTracker(store, clock)
        await first.load()
        await first.consume("a", 3)
        await first.consume("a")
        await first.block("b", 60.0)
        again = QuotaTracker(store, clock)
        await again.load()
        assert again.use("a") == QuotaUse(
            datetime(2024, 5, 6, tzinfo=UTC), 4, datetime(2024, 5, 6, 12, tzinfo=UTC), 4, None
        )
        assert again.use("b").blocked_until == datetime(2024, 5, 6, 12, 1, 30, tzinfo=UTC)
        assert again.use("b").day_used == 0
        status = again.status("a", RateLimits(requests_per_day=4))
        assert (status.available, status.reason) == (False, "daily quota of 4 requests used up")
        # A later write replaces the row.
        await again.consume("a")
        third = QuotaTracker(store, clock)
        await third.load()
        assert (third.use("a").day_used, third.use("a").minute_used) == (5, 5)
    finally:
        await store.stop()


async def test_a_failed_write_keeps_the_count_in_memory(
    fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(fresh_database_url, pool_size=1, run_retention=False)
    await store.start()
    await store.stop()
    quota, _ = tracker()
    quota.store = store
    with caplog.at_level(logging.WARNING, logger="timebase.gateway.quota"):
        await quota.consume("a", 2)
    assert quota.use("a").day_used == 2
    (record,) = [r for r in caplog.records if r.name == "timebase.gateway.quota"]
    assert record.getMessage().startswith("could not persist the quota of a: ")
    assert record.exc_info is None  # the database away is one line per attempt, no traceback


async def test_database_errors_name_what_was_being_done(
    fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(fresh_database_url, pool_size=1, run_retention=False)
    await store.start()
    try:

        def drop(conn: Connection) -> None:
            with conn.cursor() as cur:
                cur.execute("DROP TABLE provider_quota")

        await store.pool.run(drop)
        quota = QuotaTracker(store)
        with pytest.raises(DatabaseError, match=r"^reading provider quotas: "):
            await quota.load()
        with caplog.at_level(logging.WARNING, logger="timebase.gateway.quota"):
            await quota.consume("a")
        (record,) = [r for r in caplog.records if r.name == "timebase.gateway.quota"]
        assert record.exc_info is None
        assert record.getMessage().startswith(
            "could not persist the quota of a: recording provider quota: "
        )
    finally:
        await store.stop()


async def test_a_request_counts_at_once_and_is_stored_when_its_write_runs(
    fresh_database_url: str,
) -> None:
    store = Store(fresh_database_url, pool_size=2, run_retention=False)
    await store.start()
    try:
        clock = Clock(datetime(2024, 5, 6, 12, 0, 30, tzinfo=UTC))
        quota = QuotaTracker(store, clock)
        await quota.load()
        write = quota.count("a", 2)  # a fetch sends its request now, writes meanwhile
        limits = RateLimits(requests_per_minute=2)
        status = quota.status("a", limits)
        assert (status.available, status.reason) == (
            False,
            "quota of 2 requests per minute used up",
        )
        other = QuotaTracker(store, Clock(clock.now))  # another gateway, in the same minute
        await other.load()
        assert other.use("a").minute_used == 0  # not stored yet
        clock.now += timedelta(minutes=1)  # the write keeps the minute it was counted in
        await write
        await other.load()
        assert (other.use("a").day_used, other.use("a").minute_used) == (2, 2)
        assert other.use("a").minute_start == datetime(2024, 5, 6, 12, tzinfo=UTC)
    finally:
        await store.stop()
