"""The local-files provider: OHLCV bars from a directory of CSV or Parquet files.

See README.md for the file-name and column rules; `local_files_store` finds and caches files,
`local_files_reader` parses them (vectorised with pyarrow). Every blocking step runs in a worker
thread, and bars leave as Arrow record batches for the SDK's columnar path.
"""

from __future__ import annotations

import asyncio
import os
import zoneinfo
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
from local_files_reader import FileFormatError, in_range
from local_files_store import BarFiles, NoFile

from timebase.sdk import (
    Bar,
    HealthReport,
    HealthState,
    Manifest,
    Options,
    Provider,
    SymbolInfo,
    SymbolNotFound,
    UpstreamUnavailable,
)
from timebase.sdk.errors import ConfigError

BATCH_ROWS = 65_536
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(microseconds=1)


class LocalFilesProvider(Provider):
    """Serves `<SYMBOL>[_<interval>].(csv|csv.gz|parquet)` files of one directory."""

    def __init__(self, manifest: Manifest, options: Options | None = None) -> None:
        super().__init__(manifest, options)
        # Without the option: the provider's own data folder, which TimeBase's supervisor gives
        # every add-on (<data dir>/providers/local-files).
        directory = str(self.options.get("directory") or "").strip()
        directory = directory or os.environ.get("TIMEBASE_PROVIDER_DATA_DIR", "").strip()
        if not directory:
            raise ConfigError(
                "options: directory: no folder given (set the `directory` option, or run the "
                "provider under TimeBase, which gives it a data folder)"
            )
        self.directory = Path(directory).expanduser()
        self.timezone = str(self.options.get("timezone") or "UTC")
        self.files = BarFiles(
            self.directory, str(self.options.get("default_interval") or "1d"), self.timezone
        )

    async def start(self) -> None:
        try:
            await asyncio.to_thread(zoneinfo.ZoneInfo, self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"options: timezone: unknown timezone {self.timezone!r} (use an IANA name "
                "such as 'America/New_York')"
            ) from None

    def _load(
        self, symbol: str, interval: str, start: int, end: int, limit: int | None
    ) -> pa.Table:
        try:
            table = self.files.bars(symbol, interval)
        except NoFile as exc:
            raise SymbolNotFound(str(exc), symbol=symbol, interval=interval) from None
        except FileNotFoundError:
            raise UpstreamUnavailable(f"directory {self.directory} not found") from None
        except FileFormatError as exc:
            raise UpstreamUnavailable(f"cannot serve {symbol} {interval}: {exc}") from None
        return in_range(table, start, end, limit)

    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[Bar | pa.RecordBatch]:
        table = await asyncio.to_thread(
            self._load, symbol, interval, _micros(start), _micros(end), limit
        )
        for batch in table.to_batches(max_chunksize=BATCH_ROWS):
            yield batch

    def _catalogue(self) -> list[SymbolInfo]:
        try:
            index = self.files.index()
        except OSError:
            raise UpstreamUnavailable(f"directory {self.directory} not found") from None
        intervals: dict[str, set[str]] = {}
        for symbol, interval in index:
            intervals.setdefault(symbol, set()).add(interval or self.files.default_interval)
        order = self.manifest.intervals
        return [
            SymbolInfo(symbol, intervals=[i for i in order if i in intervals[symbol]])
            for symbol in sorted(intervals)
            if self.manifest.serves_symbol(symbol)
        ]

    async def symbols(self) -> Sequence[SymbolInfo]:
        """One symbol per file name (its intervals: the files there are for it)."""
        return await asyncio.to_thread(self._catalogue)

    def _check_directory(self) -> tuple[bool, int]:
        ok = self.directory.is_dir() and os.access(self.directory, os.R_OK | os.X_OK)
        return ok, (len(self.files.symbols()) if ok else 0)

    async def health(self) -> HealthReport:
        ok, symbols = await asyncio.to_thread(self._check_directory)
        if not ok:
            return HealthReport(
                HealthState.UNHEALTHY, f"directory {self.directory} is missing or not readable"
            )
        return HealthReport(
            message=f"{symbols} symbol(s) in {self.directory}",
            metrics={"symbols": str(symbols), "cached_files": str(self.files.cached_files())},
        )
