"""The transport's limit for a bulk read: bare pyarrow Flight serving one table from memory.

    python _floor_flight.py TABLE.arrow

Reads the Arrow IPC file into memory, then serves it on 127.0.0.1 (a port chosen by the OS,
printed on stdout): `get_flight_info` of any command answers one endpoint, `do_get` streams the
table's record batches as they are. No database, no validation, no planning: what is left is
Flight itself (gRPC, IPC framing, loopback), in another process, as the gateway is. It stops when
stdin closes.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import pyarrow as pa
from pyarrow import flight


class FloorServer(flight.FlightServerBase):  # type: ignore[misc]
    def __init__(self, table: pa.Table) -> None:
        super().__init__("grpc://127.0.0.1:0")
        self.table = table

    def get_flight_info(self, context: Any, descriptor: flight.FlightDescriptor) -> Any:
        endpoint = flight.FlightEndpoint(b"table", [])
        return flight.FlightInfo(
            self.table.schema, descriptor, [endpoint], self.table.num_rows, self.table.nbytes
        )

    def do_get(self, context: Any, ticket: flight.Ticket) -> flight.RecordBatchStream:
        return flight.RecordBatchStream(self.table)


def main() -> None:
    with open(sys.argv[1], "rb") as f:  # into this process's memory (no file mapping)
        table = pa.ipc.open_file(pa.py_buffer(f.read())).read_all()
    server = FloorServer(table)
    print(server.port, flush=True)
    threading.Thread(target=server.serve, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
