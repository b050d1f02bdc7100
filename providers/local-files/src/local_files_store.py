"""Which file serves (symbol, interval), and a cache of parsed files keyed by (path, mtime).

File names: ``<SYMBOL>.<ext>`` (served at the default interval) or ``<SYMBOL>_<interval>.<ext>``
with ``<interval>`` one of ``1m 5m 15m 30m 1h 4h 1d 1wk 1mo`` spelled exactly so, and ``<ext>``
``csv``, ``csv.gz`` or ``parquet``. The symbol part is matched case-insensitively and is the
symbol as written (``^GSPC.csv``, ``BRK.B.csv``, ``EURUSD=X.csv``, ``BTC-USD.csv``); characters
a file name cannot hold are percent-encoded (``/`` as ``%2F``: ``BTC%2FUSD.csv``), and so may any
other character. When several files serve the same (symbol, interval), Parquet wins over
``csv.gz``, which wins over ``csv``.

Everything here is blocking (directory listing, stat, parsing): the provider calls it in a
worker thread.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pyarrow as pa
from local_files_reader import load_bars

INTERVALS = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1wk", "1mo")
DAILY = frozenset({"1d", "1wk", "1mo"})
#: Extensions in order of preference.
EXTENSIONS = (".parquet", ".csv.gz", ".csv")
CACHE_FILES = 64


@dataclass(frozen=True)
class SourceFile:
    path: Path
    symbol: str
    interval: str | None  # None: no suffix, served at the default interval

    @property
    def rank(self) -> int:
        name = self.path.name.lower()
        return next(i for i, ext in enumerate(EXTENSIONS) if name.endswith(ext))


def parse_name(name: str) -> tuple[str, str | None] | None:
    """(symbol, interval or None) of a file name, or None when it is not a bars file."""
    lower = name.lower()
    ext = next((e for e in EXTENSIONS if lower.endswith(e)), None)
    if ext is None or name.startswith("."):
        return None
    stem = name[: -len(ext)]
    interval: str | None = None
    head, sep, tail = stem.rpartition("_")
    if sep and head and tail in INTERVALS:
        stem, interval = head, tail
    symbol = unquote(stem).strip().upper()
    return (symbol, interval) if symbol else None


def file_stem(symbol: str) -> str:
    """The file-name stem for `symbol` (what to call a new file)."""
    return "".join(f"%{ord(c):02X}" if c in '/\\:*?"<>|%' else c for c in symbol.upper())


class NoFile(LookupError):
    """No file for the symbol (`known` tells whether other intervals of it exist)."""

    def __init__(self, message: str, known: bool) -> None:
        super().__init__(message)
        self.known = known


class BarFiles:
    """The bar files of one directory, with parsed files cached by (path, mtime, size)."""

    def __init__(self, directory: Path, default_interval: str, timezone: str) -> None:
        self.directory = directory
        self.default_interval = default_interval
        self.timezone = timezone
        self._lock = threading.Lock()
        self._index_key: int | None = None
        self._index: dict[tuple[str, str | None], list[SourceFile]] = {}
        self._cache: OrderedDict[Path, tuple[tuple[int, int, bool], pa.Table]] = OrderedDict()

    # -- the directory ---------------------------------------------------------------------

    def index(self) -> dict[tuple[str, str | None], list[SourceFile]]:
        """(symbol, interval) -> files, re-listed when the directory's mtime changes."""
        mtime = os.stat(self.directory).st_mtime_ns
        with self._lock:
            if self._index_key == mtime:
                return self._index
        index: dict[tuple[str, str | None], list[SourceFile]] = {}
        with os.scandir(self.directory) as entries:
            for entry in entries:
                parsed = parse_name(entry.name)
                if parsed is None or not entry.is_file():
                    continue
                source = SourceFile(Path(entry.path), *parsed)
                index.setdefault(parsed, []).append(source)
        for files in index.values():
            files.sort(key=lambda f: (f.rank, f.path.name))
        with self._lock:
            self._index_key, self._index = mtime, index
        return index

    def symbols(self) -> list[str]:
        return sorted({symbol for symbol, _ in self.index()})

    def find(self, symbol: str, interval: str) -> SourceFile:
        index = self.index()
        keys: list[tuple[str, str | None]] = [(symbol, interval)]
        if interval == self.default_interval:
            keys.append((symbol, None))
        for key in keys:
            if index.get(key):
                return index[key][0]
        known = any(s == symbol for s, _ in index)
        if known:
            raise NoFile(f"no {interval} file for {symbol} in {self.directory}", known=True)
        raise NoFile(f"no file for {symbol} in {self.directory}", known=False)

    # -- parsed files ----------------------------------------------------------------------

    def bars(self, symbol: str, interval: str) -> pa.Table:
        """The normalised bars of the file serving (symbol, interval)."""
        source = self.find(symbol, interval)
        daily = interval in DAILY
        st = os.stat(source.path)
        key = (st.st_mtime_ns, st.st_size, daily)
        with self._lock:
            hit = self._cache.get(source.path)
            if hit is not None and hit[0] == key:
                self._cache.move_to_end(source.path)
                return hit[1]
        table = load_bars(source.path, daily=daily, timezone=self.timezone)
        with self._lock:
            self._cache[source.path] = (key, table)
            self._cache.move_to_end(source.path)
            while len(self._cache) > CACHE_FILES:
                self._cache.popitem(last=False)
        return table

    def cached_files(self) -> int:
        with self._lock:
            return len(self._cache)
