"""The client commands of `timebase`: get, providers (and its admin actions:
`provider_commands`), symbols, ingest, backfill, watchlists.

They talk to a running TimeBase (`timebase serve`) through `timebase.client`: `--host` (default:
the configured host, or 127.0.0.1 when it binds every address) and the configured ports
(`TIMEBASE_GRPC_PORT`, `TIMEBASE_FLIGHT_PORT`, or `timebase.yaml`), over TLS when the options of
`timebase.cli.tls_options` or the configuration say so, with the API key of `TIMEBASE_API_KEY`
when set (docs/security.md). Exit codes: 0 ok, 1 a server
or data error (one line on stderr), 2 a usage error (bad interval, date, symbol, file type).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import pyarrow as pa

from timebase.cli import provider_commands
from timebase.cli.bars_io import (
    UsageError,
    print_rows,
    print_table,
    read_bars_file,
    to_csv,
    to_json,
    write_file,
)
from timebase.cli.tls_options import client_tls_options
from timebase.client import InvalidRequest, TimeBase, TimeBaseClientError
from timebase.core.config import Config
from timebase.core.user_time import parse_user_time
from timebase.sdk.errors import TimeBaseError
from timebase.sdk.intervals import INTERVALS, Interval

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

FORMATS = ("table", "csv", "json")
_OUTPUT_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".json": "json"}


def add_commands(commands: Any) -> None:
    """Add the client subcommands to the `timebase` parser's subparsers."""
    get = commands.add_parser("get", help="print or save historical bars")
    get.add_argument("symbols", nargs="+", metavar="SYMBOL", help="one or more symbols")
    _range_arguments(get)
    get.add_argument("--provider", help="only this provider (provider-aware query)")
    get.add_argument(
        "--cached-only", action="store_true", help="only what is stored; ask no provider"
    )
    get.add_argument(
        "--adjust",
        default="none",
        choices=("none", "splits", "all"),
        help="adjust prices for splits, or splits and dividends (default none: as stored)",
    )
    get.add_argument("--format", default="table", help="table (default), csv or json")
    get.add_argument(
        "-o", "--output", type=Path, help="write to a file instead (.csv, .parquet or .json)"
    )

    provider_commands.add_parser(commands)

    symbols = commands.add_parser(
        "symbols",
        help="search the symbol catalogue, refresh it, or rank the providers of a symbol",
        usage="timebase symbols (search QUERY | refresh | SYMBOL) [options]",
    )
    symbols.add_argument(
        "words",
        nargs="+",
        metavar="search QUERY | refresh | SYMBOL",
        help="`search QUERY`: the catalogue's matches; `refresh`: ask the providers again; "
        "SYMBOL: which providers serve it, ranked",
    )
    symbols.add_argument("-i", "--interval", default="1d", help="interval to rank for (1d)")
    symbols.add_argument("--type", default="", help="search: only this type (e.g. equity)")
    symbols.add_argument("--provider", default="", help="search, refresh: only this provider")
    symbols.add_argument("--limit", type=int, default=50, help="search: rows per page (50)")
    symbols.add_argument("--offset", type=int, default=0, help="search: rows to skip (0)")

    ingest = commands.add_parser("ingest", help="import bars from a CSV or Parquet file")
    ingest.add_argument("file", type=Path, metavar="FILE")
    ingest.add_argument("--provider", required=True, help="name of the data set, e.g. my-vendor")
    ingest.add_argument("-i", "--interval", required=True, help="interval of the bars (e.g. 1d)")

    backfill = commands.add_parser("backfill", help="fetch and store a range without printing it")
    backfill.add_argument("symbols", nargs="+", metavar="SYMBOL")
    _range_arguments(backfill)
    backfill.add_argument("--provider", help="only this provider")

    watchlists = commands.add_parser(
        "watchlists", help="the configured watchlists: progress, last run and each item"
    )
    watchlists.add_argument("action", choices=("status",), help="status: show every watchlist")


def _range_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-i", "--interval", required=True, help=f"one of {', '.join(INTERVALS)}")
    parser.add_argument(
        "--start", required=True, help="ISO 8601 date or datetime (no offset = UTC)"
    )
    parser.add_argument(
        "--end", help="ISO 8601 date (that whole day included) or datetime; default now"
    )


#: The API key the client commands send (`Authorization: Bearer`), when set.
API_KEY_ENV = "TIMEBASE_API_KEY"

CLIENT_COMMANDS = ("get", "providers", "symbols", "ingest", "backfill", "watchlists")


def run(args: argparse.Namespace, config: Config) -> int:
    """Run a client command; never lets a traceback out."""
    host = args.host or ("127.0.0.1" if config.host in {"0.0.0.0", "::", ""} else config.host)
    command: Callable[[argparse.Namespace, TimeBase], int] = _COMMANDS[args.command]
    client: TimeBase | None = None
    try:
        client = TimeBase(
            host,
            grpc_port=config.grpc_port,
            flight_port=config.flight_port,
            api_key=os.environ.get(API_KEY_ENV) or None,
            **client_tls_options(args, config),
        )
        return command(args, client)
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except TimeBaseClientError as exc:
        _error(exc.message)
        if isinstance(exc, InvalidRequest) and exc.code != "INVALID_DATA":
            return EXIT_USAGE
        return EXIT_ERROR
    except TimeBaseError as exc:
        _error(exc.message)
        return EXIT_USAGE if exc.code.startswith("INVALID_") else EXIT_ERROR
    except BrokenPipeError:
        raise  # the reader went away (`| head`): `timebase.cli.main` ends quietly
    except OSError as exc:
        _error(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return EXIT_ERROR
    except pa.ArrowException as exc:
        _error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    finally:
        if client is not None:
            client.close()


def _error(message: str) -> None:
    print(f"timebase: {message}", file=sys.stderr, flush=True)


def _interval(raw: str) -> str:
    try:
        return Interval.parse(raw).value
    except TimeBaseError as exc:
        raise UsageError(f"interval: {exc.message}") from None


def _warn(warnings: Sequence[dict[str, Any]]) -> None:
    for w in warnings:
        print(f"timebase: warning: {w.get('code')}: {w.get('message')}", file=sys.stderr)


# -- get ------------------------------------------------------------------------------------


def cmd_get(args: argparse.Namespace, client: TimeBase) -> int:
    interval = _interval(args.interval)
    fmt = args.format
    if fmt not in FORMATS:
        raise UsageError(f"format: unknown format {fmt!r}; choose table, csv or json")
    output: Path | None = args.output
    if output is not None:
        fmt = _OUTPUT_SUFFIXES.get(output.suffix.lower(), "")
        if not fmt:
            raise UsageError(f"output: {output.name!r} must end in .csv, .parquet or .json")
    table = client.history(
        args.symbols,
        interval,
        args.start,
        args.end,
        provider=args.provider,
        cached_only=args.cached_only,
        adjust=args.adjust,
    )
    _warn(client.last_warnings)
    table = table.replace_schema_metadata(None)
    if output is not None:
        write_file(table, output, fmt)
        print(f"wrote {table.num_rows} bars to {output}", file=sys.stderr)
        return EXIT_OK
    if fmt == "csv":
        sys.stdout.write(to_csv(table))
    elif fmt == "json":
        sys.stdout.write(to_json(table) + "\n")
    else:
        print_table(table, sys.stdout)
    return EXIT_OK


def cmd_providers(args: argparse.Namespace, client: TimeBase) -> int:
    if args.words:
        return provider_commands.cmd_providers_action(args, client)
    providers = client.providers()
    if not providers:
        print("no providers")
        return EXIT_OK
    header = ("slug", "status", "intervals", "latency", "uptime", "circuit", "error")
    rows = []
    for p in providers:
        latency = p.get("latency_ms") or 0.0
        uptime = p.get("uptime") or 0.0
        rows.append(
            (
                str(p.get("slug", "")),
                str(p.get("status", "")),
                ",".join(p.get("intervals", [])),
                f"{latency:.1f} ms" if latency else "-",
                f"{uptime * 100:.0f}%" if uptime else "-",
                str(p.get("circuit", "")) or "-",
                str(p.get("last_error", "")),
            )
        )
    print_rows(header, rows)
    return EXIT_OK


def cmd_symbols(args: argparse.Namespace, client: TimeBase) -> int:
    words: list[str] = args.words
    if words[0] == "search":
        if len(words) != 2:
            raise UsageError("symbols search: expected one QUERY (quote it if it has spaces)")
        return _search_symbols(args, client, words[1])
    if words[0] == "refresh":
        if len(words) != 1:
            raise UsageError("symbols refresh: expected no argument (use --provider)")
        counts = client.refresh_symbols(args.provider or None)
        if not counts:
            print("no provider lists symbols")
        for slug, count in sorted(counts.items()):
            print(f"{slug}: {count} symbols")
        return EXIT_OK
    if len(words) != 1:
        raise UsageError("symbols: expected `search QUERY`, `refresh` or one SYMBOL")
    return _symbol_providers(args, client, words[0])


def _search_symbols(args: argparse.Namespace, client: TimeBase, query: str) -> int:
    page = client.search_symbols(
        query, type=args.type, provider=args.provider, limit=args.limit, offset=args.offset
    )
    found = page.get("symbols", [])
    if not found:
        print(f"no symbol matches {query!r}")
        return EXIT_OK
    header = ("symbol", "name", "type", "providers", "intervals")
    rows = [
        (
            str(s.get("symbol", "")),
            str(s.get("name", "")),
            str(s.get("type", "")),
            ",".join(s.get("providers", [])),
            ",".join(s.get("intervals", [])),
        )
        for s in found
    ]
    print_rows(header, rows)
    total = int(page.get("total", 0))
    if page.get("next_offset"):
        print(f"{len(found)} of {total}; next page: --offset {page['next_offset']}")
    return EXIT_OK


def _symbol_providers(args: argparse.Namespace, client: TimeBase, symbol: str) -> int:
    interval = _interval(args.interval)
    answer = client.symbol_providers(symbol, interval)
    print(f"{answer.get('symbol', symbol)} {answer.get('interval', interval)}:")
    candidates = answer.get("candidates", [])
    if not candidates:
        print("  no provider can serve it")
    for c in candidates:
        derived = f" (built from {c['derived_from']})" if c.get("derived_from") else ""
        reasons = "; ".join(c.get("reasons", []))
        print(f"  {c.get('rank')}. {c.get('slug')}{derived}" + (f" — {reasons}" if reasons else ""))
    excluded = answer.get("excluded", [])
    if excluded:
        print("left out:")
        for e in excluded:
            print(f"  {e.get('slug')}: {e.get('reason')}")
    return EXIT_OK


# -- ingest ---------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace, client: TimeBase) -> int:
    interval = _interval(args.interval)
    path: Path = args.file
    if not path.is_file():
        raise UsageError(f"file: {path} does not exist")
    table = read_bars_file(path)
    written = client.ingest(table, args.provider, interval)
    print(
        f"ingested {table.num_rows} bars from {path.name} as {args.provider} {interval} "
        f"({written} inserted or changed)"
    )
    return EXIT_OK


# -- backfill -------------------------------------------------------------------------------


def backfill_windows(
    start: datetime, end: datetime, interval: Interval
) -> list[tuple[datetime, datetime]]:
    """[start, end) in windows of about 5,000 bars (at least a day): the progress steps."""
    step = max(interval.nominal * 5000, timedelta(days=1))
    out = []
    cursor = start
    while cursor < end:
        stop = min(end, cursor + step)
        out.append((cursor, stop))
        cursor = stop
    return out


def cmd_backfill(args: argparse.Namespace, client: TimeBase) -> int:
    interval = Interval(_interval(args.interval))
    start = parse_user_time(args.start, field="start")
    end = (
        parse_user_time(args.end, field="end", is_end=True)
        if args.end is not None
        else datetime.now(UTC)
    )
    if not start < end:
        raise UsageError(
            f"start: must be before end (got start={start.isoformat()}, end={end.isoformat()})"
        )
    windows = backfill_windows(start, end, interval)
    steps = [(symbol, w) for symbol in args.symbols for w in windows]
    progress = Progress(len(steps), sys.stderr)
    totals: dict[str, int] = {}
    warnings = 0
    for symbol, (lo, hi) in steps:
        progress.show(f"{symbol} {lo.date()}…{hi.date()}")
        rows = client.backfill(symbol, interval.value, lo, hi, provider=args.provider)
        totals[symbol.upper()] = totals.get(symbol.upper(), 0) + rows
        warnings += len(client.last_warnings)
        progress.advance()
    progress.done()
    for symbol, rows in totals.items():
        print(
            f"{symbol} {interval.value}: {rows} bars stored in [{start.isoformat()}, {end.isoformat()})"
        )
    if warnings:
        print(
            f"timebase: {warnings} warnings (partial or stale data); see `timebase get`",
            file=sys.stderr,
        )
    return EXIT_OK


class Progress:
    """A text progress bar on a terminal, one line per step otherwise."""

    WIDTH = 30

    def __init__(self, total: int, out: TextIO) -> None:
        self.total = max(total, 1)
        self.count = 0
        self.out = out
        self.tty = out.isatty()
        self.label = ""

    def _bar(self) -> str:
        filled = int(self.WIDTH * self.count / self.total)
        return f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.count}/{self.total}"

    def show(self, label: str) -> None:
        self.label = label
        if self.tty:
            self.out.write(f"\r\x1b[K{self._bar()} {label}")
            self.out.flush()

    def advance(self) -> None:
        self.count += 1
        if not self.tty:
            self.out.write(f"{self._bar()} {self.label}\n")
            self.out.flush()

    def done(self) -> None:
        if self.tty:
            self.out.write(f"\r\x1b[K{self._bar()} done\n")
            self.out.flush()


def cmd_watchlists(args: argparse.Namespace, client: TimeBase) -> int:
    """`timebase watchlists status`: one row per watchlist, then one per item."""
    found = client.watchlists()
    if not found:
        print("no watchlists configured (see `watchlists:` in docs/configuration.md)")
        return EXIT_OK
    header = ("watchlist", "schedule", "progress", "runs", "last result", "last run", "next run")
    rows = [
        (
            str(w.get("name", "")),
            str(w.get("schedule", "")),
            f"{w.get('items_done', 0)}/{w.get('items_total', 0)}"
            + (" running" if w.get("running") else ""),
            str(w.get("runs", 0)),
            str(w.get("last_result", "")) or "-",
            _when(w.get("last_end")),
            _when(w.get("next_run")),
        )
        for w in found
    ]
    print_rows(header, rows)
    print()
    item_header = ("watchlist", "symbol", "interval", "status", "latest bar", "message")
    item_rows = [
        (
            str(w.get("name", "")),
            str(item.get("symbol", "")),
            str(item.get("interval", "")),
            str(item.get("status", "")),
            _when(item.get("latest_bar")),
            str(item.get("message", "")),
        )
        for w in found
        for item in w.get("items", [])
    ]
    print_rows(item_header, item_rows)
    return EXIT_OK


def _when(value: object) -> str:
    """An RFC 3339 time from the server as `YYYY-MM-DD HH:MM:SS` UTC; `-` when unset."""
    if not value:
        return "-"
    return str(value).replace("T", " ").removesuffix("Z")[:19]


_COMMANDS: dict[str, Callable[[argparse.Namespace, TimeBase], int]] = {
    "get": cmd_get,
    "providers": cmd_providers,
    "symbols": cmd_symbols,
    "ingest": cmd_ingest,
    "backfill": cmd_backfill,
    "watchlists": cmd_watchlists,
}
