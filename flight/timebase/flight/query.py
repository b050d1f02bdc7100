"""The JSON a Flight client sends: the query of `get_flight_info` and the options of `do_put`.

    {"symbol": "AAPL", "interval": "1d", "start": "2024-01-01T00:00:00Z", "end": "2024-02-01"}
    {"symbols": ["AAPL", "MSFT"], "interval": "1h", "start": ..., "end": ..., "provider": "yahoo-finance",
     "cached_only": true, "adjust": "all"}

`start` and `end` are exact ISO 8601 instants of the half-open range [start, end) (a datetime
without an offset, or a date, is UTC; a date means 00:00 UTC of that day: Flight is a programmatic
door, the date-only `end` rule of the CLI and REST does not apply). `end` defaults to now.
Validation is the gateway's (`build_request`): the same messages as gRPC and REST. A query names
at most `flight.max_symbols` symbols and each symbol's range holds at most `flight.max_bars`
bars (estimated from range × interval before any work). `adjust` (`none`, `splits` or `all`,
default `none`) adjusts the streamed prices at query time (`timebase.gateway.adjustments`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from timebase.calendars.registry import check_calendar_name
from timebase.core.user_time import to_utc
from timebase.gateway.bar_limits import DEFAULT_MAX_BARS, BarLimit
from timebase.gateway.bar_request import (
    BarRequest,
    build_request,
    check_interval,
    check_provider,
    check_symbol,
)
from timebase.sdk.errors import InvalidRequestError, InvalidTimeRangeError
from timebase.sdk.intervals import Interval

QUERY_KEYS = (
    "symbol",
    "symbols",
    "interval",
    "start",
    "end",
    "provider",
    "cached_only",
    "adjust",
)
PUT_KEYS = ("provider", "interval", "override_provider", "calendar")
#: Most symbols one query may name by default (`flight.max_symbols`).
DEFAULT_MAX_SYMBOLS = 100


def flight_limit(max_bars: int = DEFAULT_MAX_BARS) -> BarLimit:
    """The Flight door's size limit per symbol (`flight.max_bars`)."""
    return BarLimit(
        max_bars,
        "flight.max_bars",
        "one symbol of a Flight query",
        "",
        "ask for a shorter range or a coarser interval, or split the query by time",
    )


@dataclass(frozen=True)
class FlightQuery:
    """A checked Flight query: one `BarRequest` per symbol (sorted, distinct)."""

    requests: tuple[BarRequest, ...]
    cached_only: bool = False

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(r.symbol for r in self.requests)


@dataclass(frozen=True)
class PutOptions:
    """What a `do_put` descriptor may say about the batch (None: the batch has the column)."""

    provider: str | None = None
    interval: Interval | None = None
    #: Write under a configured provider's name (admins only; `timebase.gateway.ownership`).
    override_provider: bool = False
    #: The trading calendar of the data set written (docs/calendars.md).
    calendar: str | None = None


def _object(raw: bytes, what: str, keys: tuple[str, ...]) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestError(
            f"{what}: not valid JSON ({exc}); expected an object like "
            '{"symbol": "AAPL", "interval": "1d", "start": "2024-01-01", "end": "2024-02-01"}',
            field="descriptor",
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequestError(
            f"{what}: expected a JSON object, got {type(data).__name__}", field="descriptor"
        )
    unknown = sorted(set(data) - set(keys))
    if unknown:
        raise InvalidRequestError(
            f"{unknown[0]}: unknown field; the {what} takes {', '.join(keys)}", field=unknown[0]
        )
    return data


def _string(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequestError(
            f"{key}: expected a string, got {type(value).__name__}", field=key
        )
    return value


def parse_instant(value: str, field: str) -> datetime:
    """An exact ISO 8601 instant (date or datetime; without an offset: UTC)."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise InvalidTimeRangeError(
            f"{field}: {value!r} is not an ISO 8601 instant (e.g. 2024-01-02T14:30:00Z)",
            field=field,
        ) from None
    return to_utc(parsed, field)


def parse_query(
    raw: bytes,
    *,
    now: datetime | None = None,
    bar_limit: BarLimit | None = None,
    max_symbols: int = DEFAULT_MAX_SYMBOLS,
) -> FlightQuery:
    """The query of a `FlightDescriptor.for_command(...)`, or InvalidRequestError naming the field
    (more than `max_symbols` symbols, or more bars per symbol than `bar_limit`, are refused)."""
    data = _object(raw, "query", QUERY_KEYS)
    if "symbol" in data and "symbols" in data:
        raise InvalidRequestError(
            "symbols: give either symbol or symbols, not both", field="symbols"
        )
    names: list[str]
    if "symbols" in data:
        listed = data["symbols"]
        if not isinstance(listed, list) or not listed:
            raise InvalidRequestError(
                "symbols: expected a non-empty list of strings", field="symbols"
            )
        if len(listed) > max_symbols:
            raise InvalidRequestError(
                f"symbols: {len(listed)} symbols, more than the {max_symbols} one query may name "
                "(flight.max_symbols): split the query into several",
                field="symbols",
                count=len(listed),
                max_symbols=max_symbols,
            )
        names = []
        for i, item in enumerate(listed):
            if not isinstance(item, str):
                raise InvalidRequestError(
                    f"symbols[{i}]: expected a string, got {type(item).__name__}", field="symbols"
                )
            names.append(check_symbol(item, f"symbols[{i}]"))
    else:
        symbol = _string(data, "symbol")
        if symbol is None:
            raise InvalidRequestError("symbol: required (or symbols: [...])", field="symbol")
        names = [check_symbol(symbol)]
    interval = _string(data, "interval")
    if interval is None:
        raise InvalidRequestError("interval: required", field="interval")
    check_interval(interval)
    start_raw = _string(data, "start")
    if start_raw is None:
        raise InvalidTimeRangeError("start: required (an ISO 8601 instant)", field="start")
    start = parse_instant(start_raw, "start")
    end_raw = _string(data, "end")
    end = parse_instant(end_raw, "end") if end_raw is not None else None
    provider = _string(data, "provider") or ""
    adjust = _string(data, "adjust") or ""
    cached_only = data.get("cached_only", False)
    if not isinstance(cached_only, bool):
        raise InvalidRequestError("cached_only: expected true or false", field="cached_only")
    now = now or datetime.now(UTC)
    requests = tuple(
        _build(
            symbol,
            interval,
            start,
            end,
            provider=provider,
            now=now,
            bar_limit=bar_limit,
            adjust=adjust,
        )
        for symbol in sorted(set(names))
    )
    return FlightQuery(requests, cached_only)


def _build(
    symbol: str,
    interval: str,
    start: datetime,
    end: datetime | None,
    *,
    provider: str,
    now: datetime,
    bar_limit: BarLimit | None,
    adjust: str = "",
) -> BarRequest:
    return build_request(
        symbol=symbol,
        interval=interval,
        start=start,
        end=end,
        provider=provider,
        now=now,
        start_field="start",
        end_field="end",
        bar_limit=bar_limit or flight_limit(),
        adjust=adjust,
    )


def parse_put_options(raw: bytes) -> PutOptions:
    """The options of a `do_put` descriptor: empty, or `{"provider": ..., "interval": ...,
    "override_provider": true}` (each optional)."""
    if not raw.strip():
        return PutOptions()
    data = _object(raw, "do_put descriptor", PUT_KEYS)
    provider_raw = _string(data, "provider")
    interval_raw = _string(data, "interval")
    provider = check_provider(provider_raw) if provider_raw is not None else None
    interval = check_interval(interval_raw) if interval_raw is not None else None
    override = data.get("override_provider", False)
    if not isinstance(override, bool):
        raise InvalidRequestError(
            f"override_provider: expected true or false, got {json.dumps(override)}",
            field="override_provider",
        )
    calendar_raw = _string(data, "calendar")
    calendar = check_calendar_name(calendar_raw) if calendar_raw is not None else None
    return PutOptions(provider, interval, override, calendar)
