"""The TimeBase Python client: bars as Arrow tables over Flight, providers and real-time over gRPC.

    from timebase.client import TimeBase

    with TimeBase("localhost", api_key=os.environ.get("TIMEBASE_API_KEY")) as tb:
        table = tb.history(["AAPL", "MSFT"], "1d", "2024-01-01", "2024-06-30")
        df = table.to_pandas()

Needs pyarrow and grpcio only (none of the server's dependencies). See docs/flight.md.
"""

from timebase.client.errors import (
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    TimeBaseClientError,
    Unauthenticated,
    Unavailable,
)
from timebase.client.events import Bar, StreamWarning
from timebase.client.timebase import (
    DEFAULT_FLIGHT_PORT,
    DEFAULT_GRPC_PORT,
    WARNINGS_KEY,
    TimeBase,
)
from timebase.client.tls import ClientTls

__all__ = [
    "DEFAULT_FLIGHT_PORT",
    "DEFAULT_GRPC_PORT",
    "WARNINGS_KEY",
    "Bar",
    "ClientTls",
    "InvalidRequest",
    "NotFound",
    "PermissionDenied",
    "RateLimited",
    "StreamWarning",
    "TimeBase",
    "TimeBaseClientError",
    "Unauthenticated",
    "Unavailable",
]
