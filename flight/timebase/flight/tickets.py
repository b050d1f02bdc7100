"""Flight tickets: a serialized `timebase.v1.FlightTicket` (typed, versioned, opaque to clients).

A ticket carries the gateway core's plan (`ReadPlan`) of one symbol's stream: the range and the
segments the core chose (each [start, end) read from one provider's stored bars); a derived
interval's segments are bars of the finer interval it is aggregated from; `adjust` is what the streamed
prices are adjusted for (empty: none). Nothing in a ticket is
evaluated: it is decoded as a protobuf message and checked.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import DecodeError
from google.protobuf.timestamp_pb2 import Timestamp

from timebase.calendars.registry import check_calendar_name
from timebase.gateway.adjustments import Adjust, check_adjust
from timebase.gateway.bar_request import check_provider, check_symbol
from timebase.gateway.coverage_plan import ReadPlan, Segment
from timebase.sdk.errors import InvalidRequestError
from timebase.sdk.intervals import Interval
from timebase.v1 import flight_pb2

#: Version 2: derived tickets carry their finer segments (`derived_from`).
TICKET_VERSION = 2


def encode_ticket(plan: ReadPlan) -> bytes:
    msg = flight_pb2.FlightTicket(
        version=TICKET_VERSION,
        symbol=plan.symbol,
        interval=plan.interval.value,
        derived=plan.derived_from is not None,
        derived_from=plan.derived_from.value if plan.derived_from else "",
        adjust="" if plan.adjust is Adjust.NONE else plan.adjust.value,
        calendar=plan.calendar or "",
    )
    msg.start_time.FromDatetime(plan.start)
    msg.end_time.FromDatetime(plan.end)
    for seg in plan.segments:
        part = msg.segments.add(provider=seg.provider)
        part.start_time.FromDatetime(seg.start)
        part.end_time.FromDatetime(seg.end)
    return msg.SerializeToString()


def _bad(reason: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"ticket: {reason}; use the tickets of a FlightInfo from get_flight_info or list_flights",
        field="ticket",
    )


def decode_ticket(raw: bytes) -> ReadPlan:
    """The plan of a ticket, or InvalidRequestError when it is not a valid current ticket."""
    msg = flight_pb2.FlightTicket()
    try:
        msg.ParseFromString(raw)
    except DecodeError:
        raise _bad("not a TimeBase ticket") from None
    if msg.version != TICKET_VERSION:
        raise _bad(f"version {msg.version} is not supported (this server reads {TICKET_VERSION})")
    try:
        interval = Interval(msg.interval)
        derived_from = Interval(msg.derived_from) if msg.derived_from else None
        symbol = check_symbol(msg.symbol)
        adjust = check_adjust(msg.adjust)
        segments = tuple(
            Segment(_when(s.start_time), _when(s.end_time), check_provider(s.provider) or "")
            for s in msg.segments
        )
        # A Timestamp outside datetime's range (or with invalid nanos) is a ValueError.
        start, end = _when(msg.start_time), _when(msg.end_time)
    except (ValueError, OverflowError, InvalidRequestError):
        raise _bad("its fields are invalid") from None
    if msg.derived != (derived_from is not None):
        raise _bad("its fields are invalid")
    if not start < end or any(not s.start < s.end or not s.provider for s in segments):
        raise _bad("its ranges are invalid")
    calendar = msg.calendar or None
    if calendar is not None:
        try:
            check_calendar_name(calendar)
        except InvalidRequestError:
            raise _bad("bad calendar") from None
    return ReadPlan(symbol, interval, start, end, segments, derived_from, adjust, calendar)


def _when(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)
