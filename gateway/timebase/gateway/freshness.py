"""How fresh a provider's stored bars are, by the symbol's trading calendar (the router's third
criterion, docs/routing.md and docs/calendars.md).

    fresh = freshness(cal, latest, Interval.H1, now)
    fresh.behind_since      # None: no session was open since its newest bar ended (up to date)
    fresh.rank              # sort key: smaller is fresher
    fresh.reason            # "latest stored bar ..., up to date by XNYS"

Without a calendar, time is continuous and a provider is as fresh as its newest stored bar (the
ranking before calendars). With one, "stale" means a session was open after the newest bar
ended and its bars are missing: a provider whose newest 1h bar is Friday's 15:30 (New York) bar
is up to date all weekend, as is one that also stored Friday's post-market bars, and of two
stale providers the one whose missing open time starts later is fresher. Closed time (nights,
weekends, holidays, lunch breaks) never counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from timebase.calendars.model import Calendar, midnight
from timebase.calendars.slots import open_parts
from timebase.gateway.derived_intervals import next_bucket
from timebase.sdk.intervals import Interval, IntervalClass

#: The first look for open time after a bar spans this much; it doubles up to `now`.
_FIRST_LOOK = timedelta(days=8)


@dataclass(frozen=True)
class Freshness:
    """One provider's stored bars of a series, against the clock and the calendar."""

    latest: datetime | None
    #: Where the open time missing after the newest bar starts (None: none is missing).
    behind_since: datetime | None
    calendar: str | None = None

    @property
    def rank(self) -> float:
        """Sort key, smaller first: up to date, then the latest missing open time, then no
        stored bars (without a calendar: the newest bar first, as before calendars)."""
        if self.latest is None:
            return math.inf
        if self.calendar is None:
            return -self.latest.timestamp()
        if self.behind_since is None:
            return -math.inf
        return -self.behind_since.timestamp()

    @property
    def reason(self) -> str:
        if self.latest is None:
            return "no stored bars"
        text = f"latest stored bar {self.latest.isoformat()}"
        if self.calendar is None:
            return text
        if self.behind_since is None:
            return f"{text}, up to date by {self.calendar}"
        return f"{text}, behind since {self.behind_since.isoformat()} by {self.calendar}"


def freshness(
    cal: Calendar | None, latest: datetime | None, interval: Interval, now: datetime
) -> Freshness:
    """The freshness of stored bars of `interval` whose newest starts at `latest`."""
    if cal is None or latest is None:
        return Freshness(latest, None)
    return Freshness(latest, behind_since(cal, latest, interval, now), cal.name)


def behind_since(
    cal: Calendar, latest: datetime, interval: Interval, now: datetime
) -> datetime | None:
    """The start of the first open time after the bar at `latest` ended and before `now`
    (None: the market was closed all that time). Intraday: the sessions' hours minus lunch
    breaks. Daily and longer: a session opened (its hours, not its UTC day: Monday's daily
    bar is not missing before Monday's open) whose trading date is past the bar."""
    ended = next_bucket(latest, interval)
    intraday = interval.klass is IntervalClass.INTRADAY
    lo, span = ended, _FIRST_LOOK
    while lo < now:
        hi = min(now, lo + span)
        if intraday:
            parts = open_parts(cal, lo, hi, interval)
            if parts:
                return parts[0].start
        else:
            for s in cal.sessions(lo, hi):
                if midnight(s.day) >= ended and s.open < now:
                    return s.open
            known = cal.known(lo, hi)  # outside the calendar's table, time counts as open
            if known is None or known[0] > lo:
                return lo
            if known[1] < hi:
                return known[1]
        lo, span = hi, span * 2
    return None
