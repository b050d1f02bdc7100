"""A trading calendar as the gateway uses it: its sessions, nothing else (no pandas).

    cal = ALWAYS_OPEN                                    # "24/7": one session per UTC day
    cal.sessions(start, end)                             # [Session(day, open, close), ...]
    cal.sessions_before(end, 3)                          # the last 3 sessions opening before end

Two kinds: the built-in `24/7` and `24/5` (arithmetic, no table), and exchange calendars
(`XNYS`, `XLON`, ...) whose session table is computed once by `timebase.calendars.build` in a
separate process (exchange_calendars needs pandas, which the gateway process never imports) and
read here from an Arrow IPC file (`TableCalendar`). A table calendar knows only the dates of its
table (`first_day` .. `last_day`); outside them time counts as open, like a symbol without a
calendar.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

DAY = timedelta(days=1)


@dataclass(frozen=True, order=True)
class Session:
    """One trading session: its trading date (the session label) and [open, close) in UTC,
    with its lunch break [break_start, break_end) when it has one (XHKG, XTKS): closed time."""

    day: date
    open: datetime
    close: datetime
    break_start: datetime | None = None
    break_end: datetime | None = None

    def parts(self) -> tuple[tuple[datetime, datetime], ...]:
        """The session's open hours: [open, close), or the morning and the afternoon around
        its lunch break."""
        lunch_start, lunch_end = self.break_start, self.break_end
        if lunch_start is None or lunch_end is None or not self.open < lunch_start < lunch_end:
            return ((self.open, self.close),)
        if lunch_end >= self.close:
            return ((self.open, min(lunch_start, self.close)),)
        return ((self.open, lunch_start), (lunch_end, self.close))


def midnight(day: date) -> datetime:
    """00:00 UTC of `day` (where daily bars of a trading date are keyed)."""
    return datetime.combine(day, time(), tzinfo=UTC)


class Calendar:
    """A calendar's sessions; subclasses say which days have one."""

    name: str = ""

    def sessions(self, start: datetime, end: datetime) -> list[Session]:
        """Sessions whose [open, close) or trading date (00:00 UTC) meets [start, end), in order."""
        raise NotImplementedError

    def sessions_before(self, end: datetime, count: int) -> list[Session]:
        """Up to `count` sessions opening before `end` (or dated before it), oldest first."""
        raise NotImplementedError

    def known(self, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
        """The part of [start, end) the calendar knows (None: none of it)."""
        return (start, end) if start < end else None


class DailyCalendar(Calendar):
    """A built-in calendar: every UTC day whose weekday is in `weekdays` is one session,
    00:00 to 24:00 UTC."""

    def __init__(self, name: str, weekdays: frozenset[int]) -> None:
        self.name = name
        self.weekdays = weekdays

    def _session(self, day: date) -> Session:
        opened = midnight(day)
        return Session(day, opened, opened + DAY)

    def sessions(self, start: datetime, end: datetime) -> list[Session]:
        out = []
        day = start.astimezone(UTC).date()
        while midnight(day) < end:
            if day.weekday() in self.weekdays:
                out.append(self._session(day))
            day += DAY
        return out

    def sessions_before(self, end: datetime, count: int) -> list[Session]:
        out: list[Session] = []
        day = end.astimezone(UTC).date()
        if midnight(day) == end:
            day -= DAY
        while len(out) < count and day > date(1900, 1, 1):
            if day.weekday() in self.weekdays:
                out.append(self._session(day))
            day -= DAY
        return out[::-1]


#: Crypto: every day, all day.
ALWAYS_OPEN = DailyCalendar("24/7", frozenset(range(7)))
#: Forex-like: Monday to Friday, all day (UTC); Saturday and Sunday closed.
WEEKDAYS = DailyCalendar("24/5", frozenset(range(5)))
BUILT_IN: dict[str, Calendar] = {c.name: c for c in (ALWAYS_OPEN, WEEKDAYS)}


class TableCalendar(Calendar):
    """An exchange calendar from its session table (sorted by day)."""

    def __init__(self, name: str, sessions: Sequence[Session], *, layout: str = "") -> None:
        if not sessions:
            raise ValueError(f"calendar {name!r}: empty session table")
        self.name = name
        #: The cached file's layout it was read from (`timebase.calendars.build.FORMAT`).
        self.layout = layout
        self._sessions = list(sessions)
        self._opens = [s.open for s in self._sessions]
        self._days = [midnight(s.day) for s in self._sessions]
        self.first_day = self._sessions[0].day
        self.last_day = self._sessions[-1].day

    @property
    def start(self) -> datetime:
        return midnight(self.first_day)

    @property
    def end(self) -> datetime:
        return midnight(self.last_day) + DAY

    def known(self, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
        lo, hi = max(start, self.start), min(end, self.end)
        return (lo, hi) if lo < hi else None

    def sessions(self, start: datetime, end: datetime) -> list[Session]:
        # A session meets [start, end) by its trading date or its hours: look one day around.
        lo = bisect.bisect_left(self._days, start - DAY)
        out = []
        for s in self._sessions[lo:]:
            if s.open >= end and midnight(s.day) >= end:
                break
            if s.close > start or midnight(s.day) + DAY > start:
                out.append(s)
        return out

    def sessions_before(self, end: datetime, count: int) -> list[Session]:
        hi = bisect.bisect_left(self._opens, end)
        return self._sessions[max(0, hi - count) : hi]
