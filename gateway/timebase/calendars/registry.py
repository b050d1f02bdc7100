"""The calendars a gateway knows, by name, loaded once: `Calendars`.

    calendars = Calendars(data_dir / "calendars")
    cal = await calendars.get("XNYS")      # TableCalendar; "24/7" and "24/5" are built in

An exchange calendar's session table is read from `<cache>/<NAME>.arrow`; when the file is
missing, of an older layout, or ends within `REFRESH_AHEAD` of today, `python -m timebase.calendars.build` (its own
process: exchange_calendars imports pandas, the gateway never does) writes it first. Unknown
names raise `CalendarNotFound`; a build that fails raises `DataUnavailable`, both naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from pyarrow import ipc

from timebase.calendars.build import FORMAT, UNKNOWN_NAME
from timebase.calendars.model import BUILT_IN, Calendar, Session, TableCalendar
from timebase.sdk.errors import CalendarNotFound, DataUnavailable, InvalidRequestError

_log = logging.getLogger(__name__)

#: A cached table is rebuilt when it ends sooner than this after today.
REFRESH_AHEAD = timedelta(days=30)
#: Longest a build may take (importing pandas and exchange_calendars takes most of it).
BUILD_TIMEOUT = 120.0
#: How long a failed listing of the exchange calendars (exchange_calendars missing or broken)
#: is remembered: meanwhile every lookup answers its error without starting a process.
NAMES_RETRY_AFTER = 300.0
#: The build process: `python -m timebase.calendars.build NAME PATH`.
BUILD_COMMAND: tuple[str, ...] = (sys.executable, "-m", "timebase.calendars.build")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_/\-]{0,31}")


def check_calendar_name(name: str, field: str = "calendar") -> str:
    """`name` when it can be a calendar's name, else InvalidRequestError naming `field`."""
    if not _NAME.fullmatch(name):
        raise InvalidRequestError(
            f"{field}: {name!r} is not a calendar name (e.g. XNYS, XLON, 24/7, 24/5)",
            field=field,
        )
    return name


def read_table(name: str, path: Path) -> TableCalendar:
    """The calendar in the Arrow IPC file at `path` (blocking), with the file's layout
    (`timebase.calendars.build.FORMAT`; "1": the first, without lunch breaks)."""
    with pa.memory_map(str(path)) as source:
        table = ipc.open_file(source).read_all()
    days = table.column("session").to_pylist()
    opens = [t or _EPOCH for t in _times(table, "open")]  # open and close are never null
    closes = [t or _EPOCH for t in _times(table, "close")]
    breaks = _times(table, "break_start")
    resumes = _times(table, "break_end")
    sessions = [
        Session(d, o, c, b, r)
        for d, o, c, b, r in zip(days, opens, closes, breaks, resumes, strict=True)
    ]
    layout = (table.schema.metadata or {}).get(b"format", b"1").decode()
    return TableCalendar(name, sessions, layout=layout)


def _times(table: pa.Table, column: str) -> list[datetime | None]:
    """A timestamp column as UTC datetimes (nulls for a column the file does not have)."""
    if column not in table.column_names:
        return [None] * table.num_rows
    # As integers: pyarrow converts zoned timestamps to Python through pandas when present.
    values = table.column(column).cast(pa.int64()).to_pylist()
    return [None if us is None else _utc(us) for us in values]


class Calendars:
    """Calendars by name: built-ins at once, exchange calendars from the cache (built once)."""

    def __init__(
        self,
        cache_dir: Path,
        *,
        command: Sequence[str] = BUILD_COMMAND,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cache_dir = cache_dir
        self.command = tuple(command)
        self.clock = clock
        self._loaded: dict[str, Calendar] = dict(BUILT_IN)
        self._locks: dict[str, asyncio.Lock] = {}
        self._names: frozenset[str] | None = None
        #: The last failure to list the names, and when (`clock`): answered until it expires.
        self._names_failed: tuple[float, DataUnavailable] | None = None

    def path(self, name: str) -> Path:
        return self.cache_dir / f"{name.replace('/', '_')}.arrow"

    async def get(self, name: str) -> Calendar:
        check_calendar_name(name)
        cal = self._loaded.get(name)
        if cal is not None:
            return cal
        if name not in await self.names():  # refused without starting a build
            raise _not_found(name)
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            cal = self._loaded.get(name)
            if cal is None:
                cal = await self._load(name)
                self._loaded[name] = cal
        return cal

    async def names(self) -> frozenset[str]:
        """Every calendar name: the built-ins and exchange_calendars' (listed once into the
        cache, `names.json`, by the build process; an unreadable file is listed again). When
        listing fails, the DataUnavailable is raised again for `NAMES_RETRY_AFTER` seconds
        without starting another process."""
        if self._names is None:
            async with self._locks.setdefault("", asyncio.Lock()):
                if self._names is None:
                    self._names = await self._list_names()
        return self._names

    async def _list_names(self) -> frozenset[str]:
        failed = self._names_failed
        if failed is not None and self.clock() - failed[0] < NAMES_RETRY_AFTER:
            raise failed[1]
        path = self.cache_dir / "names.json"
        listed = await asyncio.to_thread(_read_names, path)
        if listed is None:
            try:
                await self._run("--names", path)
            except DataUnavailable as exc:
                self._names_failed = (self.clock(), exc)
                _log.warning("%s (retried in %g s)", exc.message, NAMES_RETRY_AFTER)
                raise
            listed = await asyncio.to_thread(_read_names, path) or []
        self._names_failed = None
        return frozenset(listed) | frozenset(BUILT_IN)

    async def _load(self, name: str) -> TableCalendar:
        path = self.path(name)
        cal = await asyncio.to_thread(_cached, name, path)
        if (
            cal is not None
            and cal.layout == FORMAT  # an older layout (no lunch breaks) is rebuilt
            and cal.last_day >= datetime.now(UTC).date() + REFRESH_AHEAD
        ):
            return cal
        try:
            await self._build(name, path)
        except DataUnavailable:
            if cal is None:
                raise
            _log.warning("calendar %s: rebuild failed; using the cached table", name)
            return cal
        return await asyncio.to_thread(read_table, name, path)

    async def _build(self, name: str, path: Path) -> None:
        _log.info("building the session table of calendar %s into %s", name, path)
        await self._run(name, path)

    async def _run(self, name: str, path: Path) -> None:
        """`python -m timebase.calendars.build name path`; errors name the calendar. The process
        is killed and awaited if the caller is cancelled or the build times out."""
        what = (
            "calendars: listing the exchange calendars"
            if name == "--names"
            else f"calendar {name!r}: building its sessions"
        )
        proc = await asyncio.create_subprocess_exec(
            *self.command,
            name,
            str(path),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), BUILD_TIMEOUT)
        except TimeoutError:
            await _stop(proc)
            raise DataUnavailable(f"{what} timed out") from None
        except BaseException:  # cancelled (the caller went away): no orphan build
            await _stop(proc)
            raise
        if proc.returncode == UNKNOWN_NAME:
            raise _not_found(name)
        if proc.returncode != 0:
            last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise DataUnavailable(f"{what} failed ({last[0]})")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Kill `proc` (if still running) and reap it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    await proc.wait()


def _not_found(name: str) -> CalendarNotFound:
    return CalendarNotFound(
        f"calendar: unknown calendar {name!r} (built in: 24/7, 24/5; exchange calendars by "
        "MIC, e.g. XNYS, XNAS, XLON, XTKS, XHKG)",
        field="calendar",
    )


def _read_names(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:  # a corrupt cache (JSONDecodeError, UnicodeDecodeError): listed again
        _log.warning("calendar names in %s are unreadable: listing them again", path)
        return None
    return [str(n) for n in names] if isinstance(names, list) else None


def _cached(name: str, path: Path) -> TableCalendar | None:
    """The cached table of `name`, or None when there is none or it cannot be read (a truncated
    or foreign file: built again)."""
    if not path.is_file():
        return None
    try:
        return read_table(name, path)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # pa.ArrowInvalid is a ValueError
        _log.warning(
            "calendar %s: the cached table %s is unreadable (%s): building it again",
            name,
            path,
            exc,
        )
        return None


def _utc(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)
