"""Ticket decoding: a forged ticket is refused with the ticket error, whatever its fields hold."""

from __future__ import annotations

import pytest

from timebase.flight.tickets import decode_ticket
from timebase.sdk.errors import InvalidRequestError
from timebase.v1 import flight_pb2

INVALID = (
    "ticket: its fields are invalid; use the tickets of a FlightInfo from get_flight_info or "
    "list_flights"
)


def _ticket(**stamps: tuple[int, int]) -> bytes:
    ticket = flight_pb2.FlightTicket(version=2, symbol="SYN:ACME", interval="1d")
    ticket.start_time.seconds, ticket.end_time.seconds = 1_704_067_200, 1_704_153_600
    segment = ticket.segments.add(provider="synthetic")
    segment.start_time.CopyFrom(ticket.start_time)
    segment.end_time.CopyFrom(ticket.end_time)
    for name, (seconds, nanos) in stamps.items():
        stamp = segment.start_time if name == "segment_start" else getattr(ticket, name)
        stamp.seconds, stamp.nanos = seconds, nanos
    return ticket.SerializeToString()


def test_a_well_formed_ticket_decodes() -> None:
    plan = decode_ticket(_ticket())
    assert (plan.symbol, plan.start.isoformat()) == ("SYN:ACME", "2024-01-01T00:00:00+00:00")


@pytest.mark.parametrize(
    "stamps",
    [
        {"start_time": (2**62, 0)},  # beyond year 9999 (found by tests/fuzz: was INTERNAL)
        {"end_time": (-(2**40), 0)},  # before year 1
        {"start_time": (0, -1)},  # negative nanos
        {"end_time": (1_704_153_600, 1_000_000_000)},  # nanos past a second
        {"segment_start": (2**62, 0)},
    ],
)
def test_timestamps_out_of_range_are_the_ticket_error(stamps: dict[str, tuple[int, int]]) -> None:
    with pytest.raises(InvalidRequestError) as err:
        decode_ticket(_ticket(**stamps))
    assert err.value.message == INVALID
