"""When a recurring job runs: every N seconds, or a small cron expression (UTC).

    Schedule.parse(3600)                 # every hour, counted from the previous run
    Schedule.parse("every 15m")          # the same with a unit: s, m, h or d
    Schedule.parse("30 22 * * 1-5")      # cron: 22:30 UTC, Monday to Friday
    schedule.next_after(now)             # the next run strictly after `now`

Cron expressions have the five usual fields (minute, hour, day of month, month, day of week with
0 or 7 = Sunday), each `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list of
those. When both day fields are restricted, a day matching either runs (as cron does). No names
(`mon`, `jan`), no `@daily` shortcuts, no seconds field; times are UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_EVERY_RE = re.compile(r"every\s+(\d+)\s*([smhd])", re.IGNORECASE)
#: (name, lowest, highest) of the five cron fields.
_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
#: How far ahead a cron expression is searched for its next run (it may never run: 31 2 * *).
_HORIZON_DAYS = 366 * 5


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?", part)
        if match is None:
            raise ValueError(f"cron {name} field: cannot read {part!r}")
        whole, first, last, step = match.groups()
        start, stop = (low, high) if whole == "*" else (int(first), int(last or first))
        if step is not None and whole != "*" and last is None:
            stop = high  # `5/15` means from 5 on, every 15
        every = int(step) if step is not None else 1
        if every <= 0:
            raise ValueError(f"cron {name} field: the step must be positive in {part!r}")
        if not (low <= start <= stop <= high):
            raise ValueError(f"cron {name} field: {part!r} is outside {low}-{high}")
        values.update(range(start, stop + 1, every))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    """Every `seconds`, or the cron fields (minute, hour, dom, month, dow); `text` as given."""

    text: str
    seconds: int | None = None
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    any_day: bool = True
    any_weekday: bool = True

    @classmethod
    def parse(cls, raw: Any) -> Schedule:
        """A schedule from configuration: seconds (a positive integer), `every N<unit>` or a
        cron expression; ValueError saying what was expected."""
        if isinstance(raw, bool):
            raise ValueError(
                f"expected seconds, 'every N(s|m|h|d)' or a cron expression, got {raw!r}"
            )
        if isinstance(raw, int) or (isinstance(raw, str) and raw.strip().isdigit()):
            seconds = int(raw)
            if seconds <= 0:
                raise ValueError(f"expected a positive number of seconds, got {raw!r}")
            return cls(f"every {seconds}s", seconds=seconds)
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError(
                f"expected seconds, 'every N(s|m|h|d)' or a cron expression, got {raw!r}"
            )
        text = " ".join(raw.split())
        every = _EVERY_RE.fullmatch(text)
        if every is not None:
            seconds = int(every.group(1)) * _UNITS[every.group(2).lower()]
            if seconds <= 0:
                raise ValueError(f"expected a positive period, got {raw!r}")
            return cls(text, seconds=seconds)
        parts = text.split(" ")
        if len(parts) != 5:
            raise ValueError(
                f"expected seconds, 'every N(s|m|h|d)' or a cron expression of 5 fields "
                f"(minute hour day-of-month month day-of-week), got {raw!r}"
            )
        sets = [_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(d % 7 for d in sets[4])
        schedule = cls(
            text,
            minutes=sets[0],
            hours=sets[1],
            days=sets[2],
            months=sets[3],
            weekdays=weekdays,
            any_day=parts[2] == "*",
            any_weekday=parts[4] == "*",
        )
        if schedule.next_after(datetime(2000, 1, 1)) is None:
            raise ValueError(f"cron expression {raw!r} never runs")
        return schedule

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days
        dow = (day.isoweekday() % 7) in self.weekdays
        if self.any_day and self.any_weekday:
            return True
        if self.any_day:
            return dow
        if self.any_weekday:
            return dom
        return dom or dow

    def next_after(self, now: datetime) -> datetime | None:
        """The next run strictly after `now` (None: a cron expression that never runs)."""
        if self.seconds is not None:
            return now + timedelta(seconds=self.seconds)
        minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = minute.replace(hour=0, minute=0)
        for _ in range(_HORIZON_DAYS):
            if self._day_matches(day):
                for hour in sorted(self.hours):
                    for m in sorted(self.minutes):
                        at = day.replace(hour=hour, minute=m)
                        if at >= minute:
                            return at
            day += timedelta(days=1)
        return None
