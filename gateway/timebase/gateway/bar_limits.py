"""Size limits checked before any work: the one estimator every door uses.

    limit = BarLimit(100_000, "rest.max_bars_text", "a JSON or CSV response", ADVICE)
    check_range_size(Interval.M1, start, end, limit)    # InvalidTimeRangeError when too large
    check_limit(400_000, limit)                         # InvalidRequestError when too large

A request's answer is estimated from its range and interval (every slot of [start, end) filled:
an upper bound for markets that close) before a provider or the store is asked. Each door has its
own limit (configuration keys `rest.max_bars_text`, `rest.max_bars_arrow`, `grpc.max_bars`,
`flight.max_bars`) and says in its refusals which key it is and how to narrow the request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from timebase.sdk.errors import InvalidRequestError, InvalidTimeRangeError
from timebase.sdk.intervals import Interval

#: The default limit of a door that says nothing else (gRPC's `grpc.max_bars`).
DEFAULT_MAX_BARS = 5_000_000


@dataclass(frozen=True)
class BarLimit:
    """The most bars one answer of a door may hold, and how that door explains it."""

    max_bars: int = DEFAULT_MAX_BARS
    #: The configuration key that sets `max_bars`.
    key: str = "grpc.max_bars"
    #: What is limited, for messages: "a JSON or CSV response", "one request", ...
    what: str = "one request"
    #: Other ways to get the data, appended to the advice (starts with ", or ...", may be "").
    instead: str = ", or use Arrow Flight for bulk reads"
    #: How to narrow a range that is too large.
    narrow: str = "ask for a shorter range or a coarser interval, or set limit"


def estimate_bars(interval: Interval, start: datetime, end: datetime) -> int:
    """Upper-bound estimate of the bars in [start, end): every slot of the interval filled."""
    if end <= start:
        return 0
    return math.ceil((end - start) / interval.nominal)


def check_range_size(
    interval: Interval,
    start: datetime,
    end: datetime,
    limit: BarLimit,
    *,
    end_field: str = "end_time",
) -> int:
    """The estimate for [start, end), or InvalidTimeRangeError naming the limit and the ways
    to narrow the request."""
    estimate = estimate_bars(interval, start, end)
    if estimate > limit.max_bars:
        raise InvalidTimeRangeError(
            f"{end_field}: [{start.isoformat()}, {end.isoformat()}) holds up to {estimate:,} "
            f"{interval.value} bars, more than the {limit.max_bars:,} {limit.what} may hold "
            f"({limit.key}): {limit.narrow}{limit.instead}",
            field=end_field,
            estimate=estimate,
            max_bars=limit.max_bars,
            limit_key=limit.key,
        )
    return estimate


def check_limit(limit_bars: int, limit: BarLimit) -> None:
    """InvalidRequestError when `limit=N` asks for more bars than the door's limit."""
    if limit_bars > limit.max_bars:
        raise InvalidRequestError(
            f"limit: {limit_bars:,} bars, more than the {limit.max_bars:,} {limit.what} may "
            f"hold ({limit.key}): ask for fewer{limit.instead}",
            field="limit",
            max_bars=limit.max_bars,
            limit_key=limit.key,
        )
