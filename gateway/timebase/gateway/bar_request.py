"""A historical request as every door sees it once checked: `BarRequest`.

Validation happens here, once, for every door: symbol syntax, a known interval, the half-open
range [start, end) with start < end within the accepted dates (1900-01-01 to 2200-01-01), `limit`,
`adjust` (none, splits or all),
and the door's upper bound on the bars one answer may hold (`bar_limits`, estimated from range
and interval before any work). Errors are `InvalidRequestError`s whose message starts with the
offending field's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from timebase.core.user_time import EARLIEST_TIME, check_time
from timebase.gateway.adjustments import Adjust, check_adjust
from timebase.gateway.bar_limits import DEFAULT_MAX_BARS, BarLimit, check_limit, check_range_size
from timebase.sdk.conventions import is_slug
from timebase.sdk.errors import InvalidIntervalError, InvalidRequestError, InvalidTimeRangeError
from timebase.sdk.intervals import INTERVALS, Interval

#: Longest symbol accepted.
MAX_SYMBOL_LENGTH = 64
#: Most bars one gRPC request may ask for by default (estimated from range and interval).
MAX_BARS_PER_REQUEST = DEFAULT_MAX_BARS

_SYMBOL_RE = re.compile(r"[A-Za-z0-9.\-^=:_]+")


@dataclass(frozen=True)
class BarRequest:
    """A checked historical request for [start, end) of one symbol at one interval."""

    symbol: str
    interval: Interval
    start: datetime
    end: datetime
    limit: int | None = None
    #: Provider-aware query: only this provider (None: the router chooses).
    provider: str | None = None
    #: Fetch again even when stored.
    refresh: bool = False
    #: False when the client gave no start (a `limit` query reaching back as far as needed).
    start_given: bool = True
    #: Adjust the answer's prices for splits and dividends (`timebase.gateway.adjustments`).
    adjust: Adjust = Adjust.NONE

    def with_range(self, start: datetime, end: datetime) -> BarRequest:
        return replace(self, start=start, end=end)


def check_symbol(raw: str, field: str = "symbol") -> str:
    """`raw` stripped and upper-cased, or InvalidRequestError naming `field`."""
    symbol = raw.strip()
    if not symbol:
        raise InvalidRequestError(f"{field}: must not be empty", field=field)
    if len(symbol) > MAX_SYMBOL_LENGTH:
        raise InvalidRequestError(
            f"{field}: at most {MAX_SYMBOL_LENGTH} characters, got {len(symbol)}", field=field
        )
    if not _SYMBOL_RE.fullmatch(symbol):
        raise InvalidRequestError(
            f"{field}: {symbol!r} may contain only letters, digits and . - ^ = : _",
            field=field,
        )
    return symbol.upper()


def check_interval(raw: str, field: str = "interval") -> Interval:
    if not raw:
        raise InvalidIntervalError(
            f"{field}: must not be empty; valid intervals: {', '.join(INTERVALS)}", field=field
        )
    try:
        return Interval(raw)
    except ValueError:
        raise InvalidIntervalError(
            f"{field}: unknown interval {raw!r}; valid intervals: {', '.join(INTERVALS)}",
            field=field,
        ) from None


def check_provider(raw: str, field: str = "provider") -> str | None:
    value = raw.strip()
    if not value:
        return None
    if not is_slug(value):
        raise InvalidRequestError(
            f"{field}: {value!r} is not a provider slug (a-z, 0-9, '-', '_')", field=field
        )
    return value


def check_range(
    start: datetime | None,
    end: datetime | None,
    start_field: str = "start_time",
    end_field: str = "end_time",
) -> tuple[datetime, datetime]:
    """Both ends given, within the accepted dates, and start < end (the half-open range
    [start, end)); errors name the door's field (`start_field`, `end_field`)."""
    if start is None or end is None:
        name = start_field if start is None else end_field
        raise InvalidTimeRangeError(f"{name}: required", field=name)
    check_time(start, start_field)
    check_time(end, end_field)
    if not start < end:
        raise InvalidTimeRangeError(
            f"{start_field}: must be before {end_field} (got {start_field}={start.isoformat()}, "
            f"{end_field}={end.isoformat()})",
            field=start_field,
        )
    return start, end


def build_request(
    *,
    symbol: str,
    interval: str,
    start: datetime | None,
    end: datetime | None,
    limit: int | None = None,
    provider: str = "",
    refresh: bool = False,
    now: datetime | None = None,
    start_field: str = "start_time",
    end_field: str = "end_time",
    bar_limit: BarLimit | None = None,
    adjust: str = "",
) -> BarRequest:
    """Check a request's fields; InvalidRequestError messages name the field and the reason.

    `end` defaults to now. Without `start`, a `limit` is required; the range then reaches back
    as far as needed to find `limit` bars (`start_given` is False; `start` is where the first
    window begins, `limit` bars back). `start_field` and `end_field` are the door's names of the
    range's ends (gRPC's by default), used in errors. `bar_limit` is the door's size limit
    (default: gRPC's), checked against the estimate before anything is fetched.
    """
    bar_limit = bar_limit or BarLimit()
    checked_symbol = check_symbol(symbol)
    checked_interval = check_interval(interval)
    checked_provider = check_provider(provider)
    checked_adjust = check_adjust(adjust)
    if limit is not None:
        if limit <= 0:
            raise InvalidRequestError(
                f"limit: must be a positive integer, got {limit}", field="limit"
            )
        check_limit(limit, bar_limit)
    now = now or datetime.now(UTC)
    end = check_time(end, end_field) if end is not None else now
    start_given = start is not None
    if start is None:
        if limit is None:
            raise InvalidTimeRangeError(
                f"{start_field}: required unless limit is set", field=start_field
            )
        start = window_start(end, checked_interval, limit, EARLIEST_TIME)
    check_range(start, end, start_field, end_field)
    if limit is None:
        check_range_size(checked_interval, start, end, bar_limit, end_field=end_field)
    return BarRequest(
        symbol=checked_symbol,
        interval=checked_interval,
        start=start,
        end=end,
        limit=limit,
        provider=checked_provider,
        refresh=refresh,
        start_given=start_given,
        adjust=checked_adjust,
    )


def window_start(end: datetime, interval: Interval, bars: int, floor: datetime) -> datetime:
    """The start of the window of `bars` intervals back from `end`, never before `floor`
    (computed without date overflow, however large `bars` is)."""
    if bars >= (end - floor) / interval.nominal:
        return floor
    return end - interval.nominal * bars
