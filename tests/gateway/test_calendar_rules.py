"""Which calendar applies (`timebase.gateway.calendar_rules.CalendarRules`): a calendar that
failed to load is tried again later; the data sets' calendars are cached (a real database, the
registry's build run as a stand-in subprocess: tests/calendars/fake_build.py)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from tests.calendars.test_registry import Clock, calls, registry, set_modes
from timebase.gateway.calendar_rules import (
    DATASET_CALENDAR_TTL,
    RETRY_BROKEN_AFTER,
    CalendarRules,
)
from timebase.store import Store

LOGGER = "timebase.gateway.calendar_rules"


async def test_a_calendar_that_failed_to_load_is_tried_again_later(
    fresh_database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    cals = await registry(tmp_path, {"XNYS": "fail"})
    async with Store(fresh_database_url, run_retention=False) as store:
        rules = CalendarRules(cals, store, clock=clock)
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            assert await rules.load("XNYS") is None
            clock.now += RETRY_BROKEN_AFTER - 1
            assert await rules.load("XNYS") is None  # not tried again yet, not logged again
        logged = [r.getMessage() for r in caplog.records if r.name == LOGGER]
        assert logged == [
            "calendar XNYS cannot be used (calendar 'XNYS': building its sessions failed "
            "(ModuleNotFoundError: No module named 'exchange_calendars')): continuous time, "
            "tried again in 300 s"
        ]
        assert await asyncio.to_thread(calls, tmp_path) == ["--names", "XNYS"]

        await asyncio.to_thread(set_modes, tmp_path, {})
        clock.now += 2
        cal = await rules.load("XNYS")
        assert cal is not None
        assert cal.name == "XNYS"
        assert await asyncio.to_thread(calls, tmp_path) == ["--names", "XNYS", "XNYS"]


async def test_data_sets_calendars_are_cached_and_forgotten_when_set(
    fresh_database_url: str, tmp_path: Path
) -> None:
    clock = Clock()
    async with Store(fresh_database_url, run_retention=False) as store:
        rules = CalendarRules(await registry(tmp_path, {}), store, clock=clock)
        await store.set_dataset_calendar(["my-data"], "XNYS")
        assert await rules.name_for("MINE", [], stored=["my-data", "plain"]) == "XNYS"
        # Another gateway changes them: this one answers from its cache for the TTL ...
        await store.set_dataset_calendar(["my-data"], "XLON")
        await store.set_dataset_calendar(["plain"], "XLON")
        assert await rules.name_for("MINE", [], stored=["my-data"]) == "XNYS"
        assert await rules.name_for("PLAIN", [], stored=["plain"]) is None
        clock.now += DATASET_CALENDAR_TTL
        assert await rules.name_for("MINE", [], stored=["my-data"]) == "XLON"
        assert await rules.name_for("PLAIN", [], stored=["plain"]) == "XLON"
        # ... and at once what it sets itself.
        await rules.set_dataset_calendar(["my-data"], "XNYS")
        assert await rules.name_for("MINE", [], stored=["my-data"]) == "XNYS"
        assert await store.dataset_calendars(["my-data"]) == {"my-data": "XNYS"}
