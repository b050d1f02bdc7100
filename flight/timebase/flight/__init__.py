"""The Arrow Flight endpoint (bulk columnar reads and writes) on `TIMEBASE_FLIGHT_PORT`.

See docs/flight.md for the descriptor JSON, the schema and examples.
"""

from timebase.flight.server import DEFAULT_PORT, FlightServer

__all__ = ["DEFAULT_PORT", "FlightServer"]
