"""The calendar registry's build processes (`timebase.calendars.registry.Calendars`), run as
real subprocesses of a stand-in build script (tests/calendars/fake_build.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from datetime import date
from pathlib import Path

import pytest

from timebase.calendars.model import TableCalendar
from timebase.calendars.registry import NAMES_RETRY_AFTER, Calendars
from timebase.sdk.errors import DataUnavailable

FAKE_BUILD = Path(__file__).with_name("fake_build.py")
LISTING_FAILED = (
    "calendars: listing the exchange calendars failed "
    "(ModuleNotFoundError: No module named 'exchange_calendars')"
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def registry(cache: Path, modes: dict[str, str], clock: Clock | None = None) -> Calendars:
    await asyncio.to_thread(set_modes, cache, modes)
    return Calendars(cache, command=(sys.executable, str(FAKE_BUILD)), clock=clock or Clock())


def set_modes(cache: Path, modes: dict[str, str]) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "modes.json").write_text(json.dumps(modes))


def calls(cache: Path) -> list[str]:
    log = cache / "calls.log"
    return log.read_text().split() if log.is_file() else []


async def test_a_cancelled_build_is_killed_and_reaped(tmp_path: Path) -> None:
    cals = await registry(tmp_path, {"XNYS": "hang"})
    task = asyncio.create_task(cals.get("XNYS"))
    pid_file = tmp_path / "XNYS.pid"
    for _ in range(300):
        if await asyncio.to_thread(pid_file.is_file):
            text = await asyncio.to_thread(pid_file.read_text)
            if text:
                break
        await asyncio.sleep(0.05)
    pid = int(await asyncio.to_thread(pid_file.read_text))
    task.cancel()
    try:
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(ProcessLookupError):  # killed and reaped: no such process any more
            os.kill(pid, 0)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def test_a_corrupt_names_file_is_listed_again(tmp_path: Path) -> None:
    cals = await registry(tmp_path, {})
    await asyncio.to_thread((tmp_path / "names.json").write_text, '["XNYS", ')
    assert await cals.names() == {"XNYS", "XLON", "24/7", "24/5"}
    assert await asyncio.to_thread(calls, tmp_path) == ["--names"]
    cal = await cals.get("XNYS")
    assert isinstance(cal, TableCalendar)
    assert (cal.name, cal.last_day) == ("XNYS", date(2100, 1, 4))


async def test_a_failed_listing_is_remembered_for_a_while(tmp_path: Path) -> None:
    clock = Clock()
    cals = await registry(tmp_path, {"--names": "fail"}, clock)
    for _ in range(3):
        with pytest.raises(DataUnavailable) as failed:
            await cals.get("XNYS")
        assert failed.value.message == LISTING_FAILED
    assert (await cals.get("24/7")).name == "24/7"  # built-ins need no listing
    clock.now += NAMES_RETRY_AFTER - 1
    with pytest.raises(DataUnavailable):
        await cals.get("XLON")
    assert await asyncio.to_thread(calls, tmp_path) == ["--names"]  # one process, not five

    await asyncio.to_thread(set_modes, tmp_path, {})  # installed since
    clock.now += 2
    assert (await cals.get("XNYS")).name == "XNYS"
    assert await asyncio.to_thread(calls, tmp_path) == ["--names", "--names", "XNYS"]


async def test_an_unreadable_cached_table_is_built_again(tmp_path: Path) -> None:
    cals = await registry(tmp_path, {})
    await asyncio.to_thread((tmp_path / "XNYS.arrow").write_bytes, b"ARROW1 truncated")
    cal = await cals.get("XNYS")
    assert await asyncio.to_thread(calls, tmp_path) == ["--names", "XNYS"]
    assert isinstance(cal, TableCalendar)
    assert cal.last_day == date(2100, 1, 4)
