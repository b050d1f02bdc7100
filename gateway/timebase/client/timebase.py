"""`TimeBase`: the Python client (Arrow Flight for bars, gRPC for providers and real-time).

    from timebase.client import TimeBase

    tb = TimeBase("localhost", api_key="tb_…")                       # api_key: when auth is on
    table = tb.history("AAPL", "1d", "2024-01-01", "2024-12-31")     # pyarrow.Table
    adjusted = tb.history("AAPL", "1d", "2024-01-01", adjust="all")   # splits and dividends
    events = tb.events("AAPL", "2024-01-01", "2024-12-31")            # the events themselves
    df = table.to_pandas()                                            # or polars.from_arrow(table)

Over TLS: `TimeBase("tb.example.com", tls_ca_file="ca.pem")` verifies the server with that CA
(`tls=True` alone: the system's CAs); `tls_cert_file` and `tls_key_file` present a client
certificate to a server that requires one. `tb.tls.ssl_context()` gives an HTTPS client the same.

Dates as people type them: ISO 8601 dates or datetimes, without an offset = UTC, and a date-only
`end` includes that whole day. Errors are `TimeBaseClientError` subclasses carrying the server's
message.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from types import TracebackType
from typing import Any

import grpc
import pyarrow as pa
from google.protobuf.json_format import MessageToDict
from pyarrow import flight

from timebase.client.errors import (
    InvalidRequest,
    TimeBaseClientError,
    from_flight,
    from_grpc,
)
from timebase.client.events import Bar, StreamWarning, stream_event
from timebase.client.tls import ClientTls, FileLike
from timebase.core.user_time import parse_user_time
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk.conventions import DEFAULT_FLIGHT_PORT, DEFAULT_GRPC_PORT
from timebase.sdk.errors import TimeBaseError
from timebase.v1 import bars_pb2 as v1
from timebase.v1 import bars_pb2_grpc as v1_grpc

#: Schema metadata key under which `history` puts the answer's warnings (a JSON list).
WARNINGS_KEY = b"timebase.warnings"

TimeLike = str | date | datetime


class TimeBase:
    """A connection to one TimeBase server (connections are opened on first use)."""

    def __init__(
        self,
        host: str = "localhost",
        grpc_port: int = DEFAULT_GRPC_PORT,
        flight_port: int = DEFAULT_FLIGHT_PORT,
        *,
        timeout: float | None = None,
        parallel: int = 8,
        tls: bool = False,
        tls_ca_file: FileLike | None = None,
        tls_cert_file: FileLike | None = None,
        tls_key_file: FileLike | None = None,
        api_key: str | None = None,
    ) -> None:
        self.host = host
        #: TLS settings (None: plaintext): on with `tls=True` or any of the files.
        self.tls: ClientTls | None = (
            ClientTls.from_files(tls_ca_file, tls_cert_file, tls_key_file)
            if tls or tls_ca_file or tls_cert_file or tls_key_file
            else None
        )
        #: Sent as `authorization: Bearer <key>` on every gRPC and Flight call (never logged).
        self.api_key = api_key
        self.grpc_port = grpc_port
        self.flight_port = flight_port
        self.timeout = timeout
        self.parallel = max(1, parallel)
        #: The warnings of the last `history` call (the gateway's JSON shape).
        self.last_warnings: list[dict[str, Any]] = []
        self._flight: flight.FlightClient | None = None
        #: Clients of the other gateways endpoints point at (`flight.peers`), by location.
        self._peers: dict[str, flight.FlightClient] = {}
        self._channel: grpc.Channel | None = None

    @property
    def flight_address(self) -> str:
        return f"{self.host}:{self.flight_port}"

    @property
    def grpc_address(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        client, self._flight = self._flight, None
        if client is not None:
            client.close()
        peers, self._peers = self._peers, {}
        for peer in peers.values():
            peer.close()
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    def __enter__(self) -> TimeBase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _flight_client(self) -> flight.FlightClient:
        if self._flight is None:
            try:
                if self.tls is None:
                    self._flight = flight.connect(f"grpc://{self.flight_address}")
                else:
                    self._flight = flight.connect(
                        f"grpc+tls://{self.flight_address}", **self.tls.flight_options()
                    )
            except (flight.FlightError, pa.ArrowException) as exc:
                raise from_flight(exc, self.flight_address) from None
        return self._flight

    def __repr__(self) -> str:
        key = ", api_key=<set>" if self.api_key else ""
        return f"TimeBase({self.host!r}, grpc_port={self.grpc_port}, flight_port={self.flight_port}{key})"

    @property
    def _metadata(self) -> tuple[tuple[str, str], ...]:
        """The gRPC metadata of every call: the API key, when one is set."""
        return (("authorization", f"Bearer {self.api_key}"),) if self.api_key else ()

    def _options(self) -> flight.FlightCallOptions:
        headers = [(b"authorization", f"Bearer {self.api_key}".encode())] if self.api_key else []
        return flight.FlightCallOptions(timeout=self.timeout, headers=headers)

    def _grpc_channel(self) -> grpc.Channel:
        if self._channel is None:
            if self.tls is None:
                self._channel = grpc.insecure_channel(self.grpc_address)
            else:
                self._channel = grpc.secure_channel(self.grpc_address, self.tls.grpc_credentials())
        return self._channel

    # -- historical bars (Flight) ------------------------------------------------------------

    def history(
        self,
        symbols: str | Iterable[str],
        interval: str,
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        provider: str | None = None,
        cached_only: bool = False,
        adjust: str = "none",
    ) -> pa.Table:
        """Bars of one or more symbols in [start, end) as one table sorted by symbol, timestamp.

        `end` defaults to now; a date-only `end` includes that day. `provider` makes the query
        provider-aware; `cached_only` reads what is stored without asking any provider.
        `adjust` ("none", "splits" or "all") adjusts prices for the stored split and dividend
        events, applying only what the provider's prices do not already include.
        Warnings go to `last_warnings` and the table's schema metadata (`timebase.warnings`).
        """
        info = self._flight_info(
            symbols,
            interval,
            start,
            end,
            provider=provider,
            cached_only=cached_only,
            adjust=adjust,
        )
        tables = self._read_endpoints(info)
        schema: pa.Schema = info.schema
        table = pa.concat_tables(tables) if tables else schema.empty_table()
        if self.last_warnings:
            metadata = dict(table.schema.metadata or {})
            metadata[WARNINGS_KEY] = json.dumps(self.last_warnings).encode()
            table = table.replace_schema_metadata(metadata)
        return table

    def backfill(
        self,
        symbols: str | Iterable[str],
        interval: str,
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        provider: str | None = None,
    ) -> int:
        """Make sure bars of [start, end) are stored (fetching what is missing) without
        downloading them; return how many bars the range holds."""
        info = self._flight_info(
            symbols, interval, start, end, provider=provider, cached_only=False
        )
        return max(int(info.total_records), 0)

    def _flight_info(
        self,
        symbols: str | Iterable[str],
        interval: str,
        start: TimeLike,
        end: TimeLike | None,
        *,
        provider: str | None,
        cached_only: bool,
        adjust: str = "none",
    ) -> flight.FlightInfo:
        names = [symbols] if isinstance(symbols, str) else list(symbols)
        if not names:
            raise InvalidRequest("symbols: at least one symbol is required", "INVALID_REQUEST")
        query: dict[str, Any] = {
            "symbols": names,
            "interval": interval,
            "start": _instant(start, "start", is_end=False),
        }
        if end is not None:
            query["end"] = _instant(end, "end", is_end=True)
        if provider:
            query["provider"] = provider
        if cached_only:
            query["cached_only"] = True
        if adjust != "none":
            query["adjust"] = adjust
        descriptor = flight.FlightDescriptor.for_command(json.dumps(query))
        client = self._flight_client()
        try:
            info = client.get_flight_info(descriptor, self._options())
        except (flight.FlightError, pa.ArrowException) as exc:
            raise from_flight(exc, self.flight_address) from None
        raw = info.app_metadata
        self.last_warnings = json.loads(raw) if raw else []
        return info

    def _read_endpoints(self, info: flight.FlightInfo) -> list[pa.Table]:
        # An endpoint with a location is read there (the gateway's `flight.peers`).
        reads = [(e, *self._endpoint_client(e)) for e in info.endpoints]

        def read(item: tuple[flight.FlightEndpoint, flight.FlightClient, str]) -> pa.Table:
            endpoint, client, address = item
            try:
                table: pa.Table = client.do_get(endpoint.ticket, self._options()).read_all()
                return table
            except (flight.FlightError, pa.ArrowException) as exc:
                raise from_flight(exc, address) from None

        if len(reads) <= 1:
            return [read(r) for r in reads]
        with ThreadPoolExecutor(min(self.parallel, len(reads))) as pool:
            return list(pool.map(read, reads))

    def _endpoint_client(self, endpoint: flight.FlightEndpoint) -> tuple[flight.FlightClient, str]:
        """The client that reads `endpoint` and its address: this gateway's, or (the endpoint
        names a location) one per location, with this client's TLS settings."""
        if not endpoint.locations:
            return self._flight_client(), self.flight_address
        uri = endpoint.locations[0].uri.decode()
        address = uri.split("://", 1)[-1]
        client = self._peers.get(uri)
        if client is None:
            try:
                if uri.startswith("grpc+tls://") and self.tls is not None:
                    client = flight.connect(uri, **self.tls.flight_options())
                else:
                    client = flight.connect(uri)
            except (flight.FlightError, pa.ArrowException) as exc:
                raise from_flight(exc, address) from None
            self._peers[uri] = client
        return client, address

    def events(
        self,
        symbol: str,
        start: TimeLike,
        end: TimeLike | None = None,
        *,
        interval: str = "1d",
        provider: str | None = None,
    ) -> pa.Table:
        """The split and dividend events recorded on `symbol`'s bars of [start, end)
        (timestamp, provider, kind "dividend" or "split", value), through the Flight action
        `events` (fetching what is missing, like `history`)."""
        body: dict[str, Any] = {
            "symbol": symbol,
            "interval": interval,
            "start": _instant(start, "start", is_end=False),
        }
        if end is not None:
            body["end"] = _instant(end, "end", is_end=True)
        if provider:
            body["provider"] = provider
        client = self._flight_client()
        action = flight.Action("events", json.dumps(body).encode())
        try:
            results = list(client.do_action(action, self._options()))
        except (flight.FlightError, pa.ArrowException) as exc:
            raise from_flight(exc, self.flight_address) from None
        table: pa.Table = pa.ipc.open_stream(results[0].body).read_all()
        return table

    # -- ingest (Flight do_put) --------------------------------------------------------------

    def ingest(
        self, data: Any, provider: str, interval: str, *, override_provider: bool = False
    ) -> int:
        """Write bars (a pyarrow Table, a pandas or polars DataFrame) as `provider`'s `interval`
        bars: validated whole (nothing written on error), upserted; return the rows inserted or
        changed (0 when everything was already stored). Naive timestamps are taken as UTC.
        A configured provider's name is refused unless an admin sets `override_provider`.
        The names given win: `provider` and `interval` columns in `data` (a frame read with
        `history()` has them) are dropped before sending, so bars read from one provider can
        be stored under another name."""
        table = _to_table(data)
        named = [c for c in ("provider", "interval") if c in table.column_names]
        if named:
            table = table.drop_columns(named)
        options: dict[str, Any] = {"provider": provider, "interval": interval}
        if override_provider:
            options["override_provider"] = True
        descriptor = flight.FlightDescriptor.for_command(json.dumps(options))
        client = self._flight_client()
        try:
            writer, reader = client.do_put(descriptor, table.schema, self._options())
            try:
                writer.write_table(table)
                writer.done_writing()
                reply = reader.read()
            finally:
                writer.close()
        except (flight.FlightError, pa.ArrowException) as exc:
            raise from_flight(exc, self.flight_address) from None
        if reply is None:
            return 0
        result = json.loads(reply.to_pybytes())
        return int(result.get("rows_written", 0))

    def datasets(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """The stored data sets (symbol, interval, provider, rows, first, last)."""
        criteria = json.dumps({"symbol": symbol}).encode() if symbol else b""
        client = self._flight_client()
        try:
            infos = list(client.list_flights(criteria, self._options()))
        except (flight.FlightError, pa.ArrowException) as exc:
            raise from_flight(exc, self.flight_address) from None
        return [json.loads(info.app_metadata) for info in infos]

    # -- providers (gRPC timebase.v1) --------------------------------------------------------

    def providers(self) -> list[dict[str, Any]]:
        """Every provider the gateway knows: status, intervals, latency, uptime, quota, …"""
        stub = v1_grpc.GatewayServiceStub(self._grpc_channel())
        try:
            reply = stub.ListProviders(
                v1.ListProvidersRequest(), timeout=self.timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise from_grpc(exc, self.grpc_address) from None
        return [_as_dict(p) for p in reply.providers]

    def symbol_providers(self, symbol: str, interval: str = "1d") -> dict[str, Any]:
        """The providers that could serve `symbol`, ranked as the router would rank them
        (`candidates`), and the ones left out with why (`excluded`)."""
        stub = v1_grpc.GatewayServiceStub(self._grpc_channel())
        request = v1.GetSymbolProvidersRequest(symbol=symbol, interval=interval)
        try:
            reply = stub.GetSymbolProviders(request, timeout=self.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise from_grpc(exc, self.grpc_address) from None
        return _as_dict(reply)

    def search_symbols(
        self,
        query: str = "",
        *,
        type: str = "",
        provider: str = "",
        limit: int = 0,
        offset: int = 0,
    ) -> dict[str, Any]:
        """A page of the symbol catalogue matching `query` (symbol prefix or substring, name):
        `symbols` (symbol, name, type, providers, intervals), `total`, `next_offset`."""
        stub = v1_grpc.GatewayServiceStub(self._grpc_channel())
        request = v1.SearchSymbolsRequest(
            query=query, type=type, provider=provider, limit=limit, offset=offset
        )
        try:
            reply = stub.SearchSymbols(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise from_grpc(exc, self.grpc_address) from None
        return _as_dict(reply)

    def refresh_symbols(self, provider: str | None = None) -> dict[str, int]:
        """Ask every provider (or `provider`) for its symbols now: {slug: symbols stored}."""
        stub = v1_grpc.GatewayServiceStub(self._grpc_channel())
        request = v1.RefreshSymbolsRequest(provider=provider or "")
        try:
            reply = stub.RefreshSymbols(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise from_grpc(exc, self.grpc_address) from None
        return dict(reply.symbols)

    def watchlists(self) -> list[dict[str, Any]]:
        """The configured watchlists: progress, last run, next run and each item's status
        (`name`, `items_total`, `items_done`, `last_result`, `items`, …)."""
        stub = v1_grpc.GatewayServiceStub(self._grpc_channel())
        try:
            reply = stub.ListWatchlists(
                v1.ListWatchlistsRequest(), timeout=self.timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise from_grpc(exc, self.grpc_address) from None
        return list(_as_dict(reply).get("watchlists", []))

    def summary(self, symbol: str) -> dict[str, Any]:
        """What is stored for `symbol`, per interval and provider (`total_bars`, `series`, …)."""
        stub = v1_grpc.GatewayServiceStub(self._grpc_channel())
        try:
            reply = stub.GetSummary(
                v1.GetSummaryRequest(symbol=symbol), timeout=self.timeout, metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise from_grpc(exc, self.grpc_address) from None
        return _as_dict(reply)

    # -- provider admin (gRPC timebase.v1; the admin scope) -----------------------------------

    def install_provider(self, repository: str, slug: str = "") -> dict[str, Any]:
        """Install the add-on `slug` (optional when it lists one) of the Git `repository`; the
        provider once ready or failed."""
        request = v1.InstallProviderRequest(repository=repository, slug=slug)
        return self._admin("InstallProvider", request)

    def update_provider(self, slug: str) -> dict[str, Any]:
        """Pull the repository `slug` was installed from, then restart it."""
        return self._admin("UpdateProvider", v1.UpdateProviderRequest(slug=slug))

    def set_provider_enabled(self, slug: str, enabled: bool) -> dict[str, Any]:
        """Enable or disable `slug` (kept across gateway restarts)."""
        request = v1.SetProviderEnabledRequest(slug=slug, enabled=enabled)
        return self._admin("SetProviderEnabled", request)

    def refresh_provider(self, slug: str) -> dict[str, Any]:
        """Read the manifest of `slug` again (its capabilities)."""
        return self._admin("RefreshProvider", v1.RefreshProviderRequest(slug=slug))

    def remove_provider(self, slug: str) -> None:
        """Stop and forget `slug` (a repository add-on's clone is deleted)."""
        self._admin("RemoveProvider", v1.RemoveProviderRequest(slug=slug))

    def _admin(self, method: str, request: Any) -> dict[str, Any]:
        stub = v1_grpc.GatewayServiceStub(self._grpc_channel())
        call = getattr(stub, method)
        try:
            # Installs and updates may build a venv or an image: minutes, not seconds.
            timeout = None if self.timeout is None else max(self.timeout, ADMIN_TIMEOUT_SECONDS)
            reply = call(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise from_grpc(exc, self.grpc_address) from None
        provider = getattr(reply, "provider", None)
        return _as_dict(provider) if provider is not None else {}

    # -- real-time (gRPC DataProvider.StreamRealTimeData) ------------------------------------

    async def stream(
        self, symbols: str | Iterable[str], interval: str, **options: str
    ) -> AsyncIterator[Bar | StreamWarning]:
        """Real-time bars of `symbols` at `interval` (and in-stream warnings) until cancelled."""
        names = [symbols] if isinstance(symbols, str) else list(symbols)
        controls = [
            pb.StreamControl(
                action=pb.StreamControl.SUBSCRIBE, symbol=s, interval=interval, options=options
            )
            for s in names
        ]
        if self.tls is None:
            channel = grpc.aio.insecure_channel(self.grpc_address)
        else:
            channel = grpc.aio.secure_channel(self.grpc_address, self.tls.grpc_credentials())
        async with channel:
            stub: Any = pb_grpc.DataProviderStub(channel)
            call = stub.StreamRealTimeData(_controls(controls), metadata=self._metadata)
            try:
                async for msg in call:
                    yield stream_event(msg)
            except grpc.aio.AioRpcError as exc:
                raise from_grpc(exc, self.grpc_address) from None
            finally:
                call.cancel()


async def _controls(controls: Sequence[pb.StreamControl]) -> AsyncIterator[pb.StreamControl]:
    for control in controls:
        yield control
    # Keep the request side open: half-closing is fine for the gateway, but some providers
    # read it as the end of the subscription. The call is cancelled when the caller stops.
    await asyncio.Event().wait()


#: The least time an admin call (install, update: a venv or image build) is given.
ADMIN_TIMEOUT_SECONDS = 900.0


def _as_dict(message: Any) -> dict[str, Any]:
    result: dict[str, Any] = MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return result


def _instant(value: TimeLike, name: str, *, is_end: bool) -> str:
    try:
        return parse_user_time(value, field=name, is_end=is_end).isoformat()
    except TimeBaseError as exc:
        raise InvalidRequest(exc.message, exc.code, dict(exc.details)) from None


def _to_table(data: Any) -> pa.Table:
    """A pyarrow Table of `data` (Table, RecordBatch, pandas or polars DataFrame), naive
    timestamps taken as UTC."""
    if isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    elif isinstance(data, pa.Table):
        table = data
    elif hasattr(data, "to_arrow") and callable(data.to_arrow):  # polars
        table = data.to_arrow()
    elif type(data).__module__.startswith("pandas"):
        table = pa.Table.from_pandas(data, preserve_index=False)
    else:
        raise TimeBaseClientError(
            f"ingest: expected a pyarrow Table or a pandas/polars DataFrame, got "
            f"{type(data).__name__}",
            "INVALID_REQUEST",
        )
    if "timestamp" in table.column_names:
        column = table["timestamp"]
        if pa.types.is_timestamp(column.type) and column.type.tz is None:
            index = table.column_names.index("timestamp")
            aware = column.cast(pa.timestamp(column.type.unit, tz="UTC"))
            table = table.set_column(index, "timestamp", aware)
    for name in ("symbol", "interval", "provider", "metadata"):  # polars: large_string
        if name in table.column_names and pa.types.is_large_string(table[name].type):
            index = table.column_names.index(name)
            table = table.set_column(index, name, table[name].cast(pa.string()))
    return table


__all__ = [
    "DEFAULT_FLIGHT_PORT",
    "DEFAULT_GRPC_PORT",
    "WARNINGS_KEY",
    "Bar",
    "StreamWarning",
    "TimeBase",
    "TimeBaseClientError",
]
