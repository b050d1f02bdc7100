"""A historical request as every door sees it once checked: `BarRequest`.

Validation happens here, once, for every door: symbol syntax, a known interval, the half-open
range [start, end) with start < end, `limit`, and an upper bound on the bars one request may ask
for. Errors are `InvalidRequestError`s whose message starts with the offending field's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from timebase.sdk.conventions import is_slug
from timebase.sdk.errors import InvalidIntervalError, InvalidRequestError, InvalidTimeRangeError
from timebase.sdk.intervals import INTERVALS, Interval

#: Longest symbol accepted.
MAX_SYMBOL_LENGTH = 64
#: Most bars one gRPC request may ask for (estimated from range and interval).
MAX_BARS_PER_REQUEST = 5_000_000

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
    """Both ends given and start < end (the half-open range [start, end)); errors name the
    door's field (`start_field`, `end_field`)."""
    if start is None or end is None:
        name = start_field if start is None else end_field
        raise InvalidTimeRangeError(f"{name}: required", field=name)
    if not start < end:
        raise InvalidTimeRangeError(
            f"{start_field}: must be before {end_field} (got {start_field}={start.isoformat()}, "
            f"{end_field}={end.isoformat()})",
            field=start_field,
        )
    return start, end


def estimate_bars(interval: Interval, start: datetime, end: datetime) -> int:
    """Upper-bound estimate of the bars in [start, end) (every slot filled)."""
    return int((end - start) / interval.nominal) + 1


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
) -> BarRequest:
    """Check a request's fields; InvalidRequestError messages name the field and the reason.

    `end` defaults to now. Without `start`, a `limit` is required; the range then reaches back
    as far as needed to find `limit` bars (`start_given` is False). `start_field` and
    `end_field` are the door's names of the range's ends (gRPC's by default), used in errors.
    """
    checked_symbol = check_symbol(symbol)
    checked_interval = check_interval(interval)
    checked_provider = check_provider(provider)
    if limit is not None:
        if limit <= 0:
            raise InvalidRequestError(
                f"limit: must be a positive integer, got {limit}", field="limit"
            )
        if limit > MAX_BARS_PER_REQUEST:
            raise InvalidRequestError(
                f"limit: at most {MAX_BARS_PER_REQUEST:,} bars per request, got {limit:,}",
                field="limit",
            )
    now = now or datetime.now(UTC)
    end = end if end is not None else now
    start_given = start is not None
    if start is None:
        if limit is None:
            raise InvalidTimeRangeError(
                f"{start_field}: required unless limit is set", field=start_field
            )
        start = end - lookback_for_limit(checked_interval, limit)
    check_range(start, end, start_field, end_field)
    if start_given:
        estimate = estimate_bars(checked_interval, start, end)
        if limit is None and estimate > MAX_BARS_PER_REQUEST:
            raise InvalidTimeRangeError(
                f"{end_field}: [{start.isoformat()}, {end.isoformat()}) holds up to {estimate:,} "
                f"{checked_interval.value} bars, more than {MAX_BARS_PER_REQUEST:,} per "
                "request; ask for a shorter range, or set limit",
                field=end_field,
            )
    return BarRequest(
        symbol=checked_symbol,
        interval=checked_interval,
        start=start,
        end=end,
        limit=limit,
        provider=checked_provider,
        refresh=refresh,
        start_given=start_given,
    )


def lookback_for_limit(interval: Interval, limit: int) -> timedelta:
    """A first guess of how far back `limit` bars reach (markets close: twice the nominal span,
    at least a week so weekends and holidays do not starve daily bars)."""
    return max(interval.nominal * limit * 2, timedelta(days=7))
