"""Hypothesis against the Flight door of a running `timebase serve`: descriptors (random bytes,
JSON queries with arbitrary and well-formed fields, path descriptors), `list_flights` criteria,
and tickets (random bytes; well-formed `timebase.v1.FlightTicket`s with forged fields, wrong
versions, impossible timestamps; real tickets with one field changed).

TimeBase sends a client error with its gRPC code (`timebase.flight.errors`): bad input as
INVALID_ARGUMENT (pyarrow's client raises `ArrowInvalid`), not found as NOT_FOUND
(`ArrowKeyError`), both with TimeBase's JSON in the status detail; a refused key as
`FlightUnauthenticatedError` / `FlightUnauthorizedError` with it in `extra_info`. So "only client
errors" means here: one of those, carrying a client-error code (`flight_error_info`); never a
`FlightInternalError` (INTERNAL) or `FlightServerError` (UNKNOWN), and never an error without
TimeBase's JSON (a bare exception reaching pyarrow, which would send its traceback)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pyarrow as pa
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import event, given
from hypothesis import strategies as st
from pyarrow import flight

from tests.fuzz.conftest import fuzz_settings, fuzz_timeout
from tests.fuzz.served import Served
from tests.fuzz.strategies import instants, intervals, ranges, slugs, symbols
from timebase.client.errors import flight_error_info
from timebase.flight.query import QUERY_KEYS
from timebase.v1 import flight_pb2

#: The codes of errors the client caused (kinds invalid, not found, unauthenticated, permission).
CLIENT_CODES = {
    "INVALID_REQUEST",
    "INVALID_INTERVAL",
    "INVALID_TIME_RANGE",
    "INVALID_DATA",
    "PROVIDER_CAPABILITY_MISSING",
    "PROVIDER_NOT_FOUND",
    "SYMBOL_NOT_FOUND",
    "DATA_UNAVAILABLE",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
}
CLIENT_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowKeyError,
    flight.FlightUnauthenticatedError,
    flight.FlightUnauthorizedError,
)
OPTIONS = flight.FlightCallOptions(timeout=30.0)

pytestmark = pytest.mark.timeout(fuzz_timeout())


@pytest.fixture
def client(reader: Served) -> Iterator[flight.FlightClient]:
    with flight.connect(reader.flight_location) as conn:
        yield conn


def answered(call: Callable[[], Any]) -> None:
    """Run `call`; an error must be a client error with a client-error code (module docstring)."""
    error: Exception | None = None
    try:
        call()
    except Exception as exc:
        error = exc
    if error is None:
        event("OK")
        return
    info = flight_error_info(error)
    code = info["code"] if info else None
    event(f"{type(error).__name__} {code}")
    assert isinstance(error, CLIENT_ERRORS), f"{type(error).__name__}: {error}"
    assert code in CLIENT_CODES, f"{type(error).__name__} {code}: {error}"


def serves_normally(client: flight.FlightClient) -> None:
    """A normal query still plans and streams (nothing the fuzzer sent broke the server)."""
    query = {"symbol": "SYN:ACME", "interval": "1d", "start": "2024-01-01", "end": "2024-01-08"}
    info = client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(query)), OPTIONS)
    table = client.do_get(info.endpoints[0].ticket, OPTIONS).read_all()
    assert table.num_rows == 7


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(), inner)),
    max_leaves=6,
)


@st.composite
def queries(draw: st.DrawFn) -> bytes:
    """A JSON query: well-formed fields (a modest range) mixed with arbitrary ones."""
    interval = draw(intervals)
    start, end = draw(ranges(interval))
    query: dict[str, Any] = {"interval": interval}
    if draw(st.booleans()):
        query["symbols"] = draw(st.lists(symbols, max_size=4))
    else:
        query["symbol"] = draw(symbols)
    if start is not None:
        query["start"] = start.isoformat()
    if end is not None:
        query["end"] = end.isoformat()
    for key in draw(st.lists(st.sampled_from(["provider", "cached_only"]), unique=True)):
        query[key] = draw(slugs) if key == "provider" else draw(st.booleans())
    if draw(st.integers(0, 3)) == 3:  # one field of any JSON type, known or not
        key = draw(st.one_of(st.sampled_from(QUERY_KEYS), st.text(max_size=10)))
        query[key] = draw(json_values)
    return json.dumps(query).encode()


descriptors = st.one_of(
    st.builds(flight.FlightDescriptor.for_command, queries()),
    st.builds(flight.FlightDescriptor.for_command, st.binary(max_size=200)),
    st.builds(
        flight.FlightDescriptor.for_command,
        st.builds(lambda v: json.dumps(v).encode(), json_values),
    ),
    st.builds(lambda p: flight.FlightDescriptor.for_path(*p), st.lists(st.text(), max_size=3)),
)


def test_flight_descriptors(client: flight.FlightClient) -> None:
    @fuzz_settings(100)
    @given(descriptor=descriptors)
    def fuzz(descriptor: flight.FlightDescriptor) -> None:
        answered(lambda: client.get_flight_info(descriptor, OPTIONS))

    fuzz()
    serves_normally(client)


def test_list_flights_criteria(client: flight.FlightClient) -> None:
    @fuzz_settings(40)
    @given(
        criteria=st.one_of(
            st.binary(max_size=100),
            st.builds(lambda v: json.dumps(v).encode(), json_values),
            st.builds(lambda s: json.dumps({"symbol": s}).encode(), symbols),
        )
    )
    def fuzz(criteria: bytes) -> None:
        answered(lambda: list(client.list_flights(criteria, OPTIONS)))

    fuzz()
    serves_normally(client)


#: A Timestamp out of range (seconds beyond year 9999, nanos outside 0..999,999,999) or any.
timestamps = st.one_of(
    st.builds(Timestamp, seconds=st.integers(253_402_300_800, 2**63 - 1)),
    st.builds(Timestamp, nanos=st.integers(-(2**31), -1)),
    instants.map(lambda t: Timestamp(seconds=int(t.timestamp()))),
    st.builds(
        Timestamp,
        seconds=st.integers(-(2**63), 2**63 - 1),
        nanos=st.integers(-(2**31), 2**31 - 1),
    ),
)


#: What a forged ticket gets wrong (one flaw each, so that every kind is tried).
FLAWS = ("nothing", "version", "timestamp", "segment", "symbol", "interval", "derived")


@st.composite
def forged_tickets(draw: st.DrawFn) -> bytes:
    """A serialized FlightTicket drawn, not planned by the server: well-formed, with one flaw."""
    flaw = draw(st.sampled_from(FLAWS))
    interval = draw(st.sampled_from(["1d", "1h", "1wk"]))
    start = draw(instants)
    ticket = flight_pb2.FlightTicket(
        version=2, symbol=draw(st.sampled_from(["SYN:ACME", "SYN:FORGED"])), interval=interval
    )
    ticket.start_time.FromDatetime(start)
    ticket.end_time.FromDatetime(start + timedelta(days=draw(st.integers(1, 60))))
    segment = ticket.segments.add(provider=draw(st.sampled_from(["synthetic", "nobody"])))
    segment.start_time.CopyFrom(ticket.start_time)
    segment.end_time.CopyFrom(ticket.end_time)
    if flaw == "version":
        ticket.version = draw(st.integers(0, 2**32 - 1).filter(lambda v: v != 2))
    elif flaw == "timestamp":
        stamp = draw(st.sampled_from([ticket.start_time, ticket.end_time, segment.start_time]))
        stamp.CopyFrom(draw(timestamps))
    elif flaw == "segment":
        for _ in range(draw(st.integers(0, 3))):
            extra = ticket.segments.add(provider=draw(slugs))
            extra.start_time.CopyFrom(draw(timestamps))
            extra.end_time.CopyFrom(draw(timestamps))
    elif flaw == "symbol":
        ticket.symbol = draw(symbols)
    elif flaw == "interval":
        ticket.interval = draw(intervals)
    elif flaw == "derived":
        ticket.derived = draw(st.booleans())
        ticket.derived_from = draw(st.one_of(st.just(""), intervals))
        ticket.provider = draw(slugs)
    return ticket.SerializeToString()


def test_forged_tickets(client: flight.FlightClient) -> None:
    @fuzz_settings(100)
    @given(raw=forged_tickets())
    def fuzz(raw: bytes) -> None:
        answered(lambda: client.do_get(flight.Ticket(raw), OPTIONS).read_all())

    fuzz()
    serves_normally(client)


def test_random_tickets(client: flight.FlightClient) -> None:
    @fuzz_settings(40)
    @given(raw=st.binary(max_size=300))
    def fuzz(raw: bytes) -> None:
        answered(lambda: client.do_get(flight.Ticket(raw), OPTIONS).read_all())

    fuzz()
    serves_normally(client)


def test_real_tickets_with_one_field_changed(client: flight.FlightClient) -> None:
    """A ticket the server issued, with one field replaced: refused or served, never a crash."""
    query = {"symbol": "SYN:ACME", "interval": "1wk", "start": "2024-01-01", "end": "2024-03-01"}
    info = client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps(query)), OPTIONS)
    issued = flight_pb2.FlightTicket.FromString(info.endpoints[0].ticket.ticket)
    assert issued.version == 2
    assert issued.segments

    @fuzz_settings(60)
    @given(
        field=st.sampled_from(["version", "symbol", "interval", "derived_from", "segment"]),
        data=st.data(),
    )
    def fuzz(field: str, data: st.DataObject) -> None:
        ticket = flight_pb2.FlightTicket()
        ticket.CopyFrom(issued)
        if field == "version":
            ticket.version = data.draw(st.integers(0, 2**32 - 1))
        elif field == "symbol":
            ticket.symbol = data.draw(symbols)
        elif field in ("interval", "derived_from"):
            setattr(ticket, field, data.draw(intervals))
        else:
            segment = ticket.segments[0]
            segment.provider = data.draw(slugs)
            start = data.draw(instants)
            segment.start_time.FromDatetime(start)
            segment.end_time.FromDatetime(start + timedelta(days=data.draw(st.integers(-7, 70))))
        raw = ticket.SerializeToString()
        answered(lambda: client.do_get(flight.Ticket(raw), OPTIONS).read_all())

    fuzz()
    serves_normally(client)
