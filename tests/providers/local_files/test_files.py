"""local-files: real-format CSV and Parquet, exact values, symbol file names, caching, errors."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.protobuf import empty_pb2

from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk import Manifest, ProviderServer
from timebase.sdk.testing import fetch_chunk_rows, fetch_rows
from timebase.sdk.wire import Row, to_timestamp_pb

JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, tzinfo=UTC)

# Yahoo Finance "Download" format (daily), including the `null` rows Yahoo writes.
YAHOO_DAILY = """\
Date,Open,High,Low,Close,Adj Close,Volume
2024-01-02,187.149994,188.440002,183.889999,185.639999,184.938217,82488700
2024-01-03,184.220001,185.880005,183.429993,184.250000,183.553467,58414500
2024-01-04,182.149994,183.089996,180.880005,181.910004,181.222321,71983600
2024-01-05,null,null,null,null,null,null
2024-01-08,182.089996,185.600006,181.500000,185.559998,184.858521,59144500
"""

# yfinance `history().to_csv()` style: aware exchange-local timestamps, actions columns.
YAHOO_INTRADAY = """\
Datetime,Open,High,Low,Close,Volume,Dividends,Stock Splits
2024-01-02 09:30:00-05:00,187.149994,188.440002,185.830002,186.160004,18937900,0.0,0.0
2024-01-02 10:30:00-05:00,186.160004,186.740005,185.190002,185.360001,9563210,0.0,0.0
2024-01-02 11:30:00-05:00,185.360001,185.600006,184.649994,184.907898,7100000,0.24,0.0
"""


async def put(path: Path, text: str) -> None:
    """Write a test file off the event loop."""
    await asyncio.to_thread(path.write_text, text)


async def put_table(table: pa.Table, path: Path) -> None:
    await asyncio.to_thread(pq.write_table, table, path)


def us(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp()) * 1_000_000


def request(symbol: str, interval: str, start: datetime, end: datetime, **kw: Any) -> Any:
    return pb.HistoricalDataRequest(
        symbol=symbol,
        interval=interval,
        start_time=to_timestamp_pb(start),
        end_time=to_timestamp_pb(end),
        **kw,
    )


@asynccontextmanager
async def serve(
    module: ModuleType, manifest: Manifest, directory: Path, **options: Any
) -> AsyncIterator[pb_grpc.DataProviderAsyncStub]:
    provider = module.LocalFilesProvider(
        manifest, manifest.validate_options({"directory": str(directory), **options})
    )
    async with (
        ProviderServer(provider, port=0) as server,
        grpc.aio.insecure_channel(server.target) as channel,
    ):
        yield pb_grpc.DataProviderStub(channel)


async def rows(stub: pb_grpc.DataProviderAsyncStub, *args: Any, **kw: Any) -> list[Row]:
    req = request(*args, **kw)
    per_bar = await fetch_rows(stub, req)
    assert await fetch_chunk_rows(stub, req) == per_bar
    return per_bar


async def test_yahoo_download_csv_daily(
    local_files: ModuleType, manifest: Manifest, tmp_path: Path
) -> None:
    await put(tmp_path / "AAPL.csv", YAHOO_DAILY)
    async with serve(local_files, manifest, tmp_path) as stub:
        got = await rows(stub, "aapl", "1d", JAN, FEB)
    assert got == [
        Row(us(2024, 1, 2), 187.149994, 188.440002, 183.889999, 185.639999, 82488700.0,
            (("adj_close", "184.938217"),)),
        Row(us(2024, 1, 3), 184.220001, 185.880005, 183.429993, 184.25, 58414500.0,
            (("adj_close", "183.553467"),)),
        Row(us(2024, 1, 4), 182.149994, 183.089996, 180.880005, 181.910004, 71983600.0,
            (("adj_close", "181.222321"),)),
        Row(us(2024, 1, 8), 182.089996, 185.600006, 181.5, 185.559998, 59144500.0,
            (("adj_close", "184.858521"),)),
    ]  # fmt: skip


async def test_intraday_csv_with_offsets_is_converted_to_utc(
    local_files: ModuleType, manifest: Manifest, tmp_path: Path
) -> None:
    await put(tmp_path / "AAPL_1h.csv", YAHOO_INTRADAY)
    async with serve(local_files, manifest, tmp_path) as stub:
        got = await rows(stub, "AAPL", "1h", JAN, FEB)
        limited = await rows(stub, "AAPL", "1h", JAN, FEB, limit=1)
        window = await rows(stub, "AAPL", "1h", datetime(2024, 1, 2, 15, 30, tzinfo=UTC), FEB)
    assert [r.ts_us for r in got] == [us(2024, 1, 2, 14, 30), us(2024, 1, 2, 15, 30),
                                      us(2024, 1, 2, 16, 30)]  # fmt: skip
    assert got[0] == Row(us(2024, 1, 2, 14, 30), 187.149994, 188.440002, 185.830002,
                         186.160004, 18937900.0)  # fmt: skip
    assert got[2].metadata == (("dividend", "0.24"),)
    assert limited == got[-1:]
    assert window == got[1:]


async def test_parquet_aware_naive_and_by_date(
    local_files: ModuleType, manifest: Manifest, tmp_path: Path
) -> None:
    ny = pa.timestamp("ns", tz="America/New_York")
    # Intraday, aware (exchange-local): instants converted to UTC.
    await put_table(
        pa.table({
            "Datetime": pa.array([1704205800 * 10**9, 1704209400 * 10**9], ny),
            "Open": [10.0, 11.0], "High": [12.0, 12.5], "Low": [9.5, 10.5],
            "Close": [11.0, 12.0], "Volume": pa.array([100, 200], pa.int64()),
        }),
        tmp_path / "XNY_1h.parquet",
    )  # fmt: skip
    # Daily, aware at Tokyo midnight (the previous day in UTC): keyed by its own date.
    tokyo = pa.timestamp("ns", tz="Asia/Tokyo")
    await put_table(
        pa.table({
            "date": pa.array([1704207600 * 10**9], tokyo),  # 2024-01-03 00:00 +09:00
            "open": [1.0], "high": [2.0], "low": [0.5], "close": [1.5], "volume": [7.0],
        }),
        tmp_path / "7203.T.parquet",
    )  # fmt: skip
    # Naive timestamps are read in the `timezone` option.
    await put_table(
        pa.table({
            "timestamp": pa.array([datetime(2024, 1, 2, 9, 30)], pa.timestamp("ns")),
            "open": [5.0], "high": [6.0], "low": [4.0], "close": [5.5], "volume": [1.0],
            "adj_close": [5.25],
        }),
        tmp_path / "NAIVE_15m.parquet",
    )  # fmt: skip
    async with serve(local_files, manifest, tmp_path, timezone="America/New_York") as stub:
        aware = await rows(stub, "XNY", "1h", JAN, FEB)
        daily = await rows(stub, "7203.T", "1d", JAN, FEB)
        naive = await rows(stub, "NAIVE", "15m", JAN, FEB)
    assert aware == [
        Row(us(2024, 1, 2, 14, 30), 10.0, 12.0, 9.5, 11.0, 100.0),
        Row(us(2024, 1, 2, 15, 30), 11.0, 12.5, 10.5, 12.0, 200.0),
    ]
    assert daily == [Row(us(2024, 1, 3), 1.0, 2.0, 0.5, 1.5, 7.0)]
    assert naive == [Row(us(2024, 1, 2, 14, 30), 5.0, 6.0, 4.0, 5.5, 1.0, (("adj_close", "5.25"),))]


async def test_naive_csv_in_utc_by_default_and_epoch_seconds(
    local_files: ModuleType, manifest: Manifest, tmp_path: Path
) -> None:
    await put(
        tmp_path / "EURUSD=X_5m.csv",
        "time;o;h;l;c\n2024-01-02 09:30:00;1.1;1.2;1.0;1.15\n2024-01-02T09:35:00Z;1.15;1.2;1.1;1.12\n",
    )
    await put(
        tmp_path / "BTC%2FUSD_1m.csv",
        "ts,open,high,low,close,volume\n1704205800,42000.5,42010,41990,42005.25,1.5\n",
    )
    async with serve(local_files, manifest, tmp_path) as stub:
        fx = await rows(stub, "eurusd=x", "5m", JAN, FEB)
        btc = await rows(stub, "BTC/USD", "1m", JAN, FEB)
    assert fx == [
        Row(us(2024, 1, 2, 9, 30), 1.1, 1.2, 1.0, 1.15, 0.0),
        Row(us(2024, 1, 2, 9, 35), 1.15, 1.2, 1.1, 1.12, 0.0),
    ]
    assert btc == [Row(us(2024, 1, 2, 14, 30), 42000.5, 42010.0, 41990.0, 42005.25, 1.5)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("^GSPC.csv", ("^GSPC", None)),
        ("BRK.B.csv", ("BRK.B", None)),
        ("brk.b_1wk.parquet", ("BRK.B", "1wk")),
        ("EURUSD=X_1h.csv.gz", ("EURUSD=X", "1h")),
        ("BTC%2FUSD.csv", ("BTC/USD", None)),
        ("FOO_BAR.csv", ("FOO_BAR", None)),
        ("AAPL_1M.csv", ("AAPL_1M", None)),
        ("notes.txt", None),
        (".hidden.csv", None),
    ],
)
def test_file_names(
    local_files: ModuleType, name: str, expected: tuple[str, str | None] | None
) -> None:
    import local_files_store  # type: ignore[import-not-found]

    assert local_files_store.parse_name(name) == expected
    if expected is not None:
        assert local_files_store.parse_name(local_files_store.file_stem(expected[0]) + ".csv") == (
            expected[0],
            None,
        )


async def test_special_symbols_and_preferences(
    local_files: ModuleType, manifest: Manifest, tmp_path: Path
) -> None:
    line = "Date,Open,High,Low,Close\n2024-01-02,{p},{p},{p},{p}\n"
    await put(tmp_path / "^GSPC.csv", line.format(p=4742.83))
    await put(tmp_path / "BRK.B_1d.csv", line.format(p=362.0))
    await put(tmp_path / "BRK.B.csv", line.format(p=1.0))  # the suffixed file wins
    await put_table(
        pa.table({"Date": ["2024-01-02"], "Open": [2.0], "High": [2.0], "Low": [2.0],
                  "Close": [2.0]}),
        tmp_path / "brk.b_1d.parquet",
    )  # fmt: skip
    async with serve(local_files, manifest, tmp_path) as stub:
        gspc = await rows(stub, "^GSPC", "1d", JAN, FEB)
        brk = await rows(stub, "BRK.B", "1d", JAN, FEB)
    assert [r.close for r in gspc] == [4742.83]
    assert [r.close for r in brk] == [2.0]  # Parquet is preferred over CSV


async def test_get_symbols_lists_one_symbol_per_file_name(
    local_files: ModuleType, manifest: Manifest, tmp_path: Path
) -> None:
    """GetSymbols: every file's symbol once, sorted, with the intervals of its files in the
    manifest's order (a file without an interval suffix is the default interval, 1d); files
    that are no symbol's are left out."""
    line = "Date,Open,High,Low,Close\n2024-01-02,1,1,1,1\n"
    for name in ("^GSPC.csv", "BRK.B_1d.csv", "BRK.B_1wk.csv", "brk.b_1h.parquet", "MSFT.csv"):
        await put(tmp_path / name, line)
    await put(tmp_path / "notes.txt", "not bars")
    await put(tmp_path / ".hidden.csv", line)
    async with serve(local_files, manifest, tmp_path) as stub:
        reply = await stub.GetSymbols(empty_pb2.Empty(), timeout=10)
    assert [
        (s.symbol, s.name, s.type, list(s.intervals), dict(s.metadata)) for s in reply.symbols
    ] == [
        ("BRK.B", "", "", ["1h", "1d", "1wk"], {}),
        ("MSFT", "", "", ["1d"], {}),
        ("^GSPC", "", "", ["1d"], {}),
    ]


async def test_unknown_symbol_or_interval_not_found(
    local_files: ModuleType, manifest: Manifest, tmp_path: Path
) -> None:
    await put(tmp_path / "AAPL.csv", YAHOO_DAILY)
    async with serve(local_files, manifest, tmp_path) as stub:
        for symbol, interval, message in (("MSFT", "1d", "no file for MSFT"),
                                          ("AAPL", "1h", "no 1h file for AAPL")):  # fmt: skip
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await fetch_rows(stub, request(symbol, interval, JAN, FEB))
            assert info.value.code() == grpc.StatusCode.NOT_FOUND
            assert message in (info.value.details() or "")


async def test_default_interval_option(
    local_files: ModuleType, manifest: Manifest, tmp_path: Path
) -> None:
    await put(tmp_path / "AAPL.csv", YAHOO_INTRADAY)
    async with serve(local_files, manifest, tmp_path, default_interval="1h") as stub:
        assert len(await rows(stub, "AAPL", "1h", JAN, FEB)) == 3
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await fetch_rows(stub, request("AAPL", "1d", JAN, FEB))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_changed_file_is_read_again(
    local_files: ModuleType, manifest: Manifest, tmp_path: Path
) -> None:
    path = tmp_path / "AAPL.csv"
    await put(path, YAHOO_DAILY)
    async with serve(local_files, manifest, tmp_path) as stub:
        assert len(await rows(stub, "AAPL", "1d", JAN, FEB)) == 4
        await put(path, YAHOO_DAILY.replace("2024-01-08,182.089996", "2024-01-09,182.089996"))
        stat = await asyncio.to_thread(path.stat)
        await asyncio.to_thread(os.utime, path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        got = await rows(stub, "AAPL", "1d", JAN, FEB)
    assert got[-1].ts_us == us(2024, 1, 9)


async def test_bad_file_is_unavailable_and_bad_rows_skipped(
    local_files: ModuleType, manifest: Manifest, tmp_path: Path
) -> None:
    await put(tmp_path / "BAD.csv", "Date,Open,High,Close\n2024-01-02,1,2,1.5\n")
    await put(
        tmp_path / "ODD.csv",
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-02,1,2,0.5,1.5,10\n2024-01-03,1,0.5,2,1.5,10\n2024-01-04,1,2,0.5,1.5,-1\n",
    )
    async with serve(local_files, manifest, tmp_path) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await fetch_rows(stub, request("BAD", "1d", JAN, FEB))
        odd = await rows(stub, "ODD", "1d", JAN, FEB)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "BAD.csv: missing column(s) low" in (info.value.details() or "")
    assert [r.ts_us for r in odd] == [us(2024, 1, 2)]


async def test_health_reports_missing_directory(
    local_files: ModuleType, manifest: Manifest, tmp_path: Path
) -> None:
    provider = local_files.LocalFilesProvider(
        manifest, manifest.validate_options({"directory": str(tmp_path / "absent")})
    )
    report = await provider.health()
    assert report.state.value == "unhealthy"
    await asyncio.to_thread((tmp_path / "present").mkdir)
    await put(tmp_path / "present" / "AAPL.csv", YAHOO_DAILY)
    provider = local_files.LocalFilesProvider(
        manifest, manifest.validate_options({"directory": str(tmp_path / "present")})
    )
    report = await provider.health()
    assert report.state.value == "healthy"
    assert report.metrics["symbols"] == "1"


async def test_bad_timezone_option_fails_start(
    local_files: ModuleType, manifest: Manifest, tmp_path: Path
) -> None:
    from timebase.sdk.errors import ConfigError

    provider = local_files.LocalFilesProvider(
        manifest, manifest.validate_options({"directory": str(tmp_path), "timezone": "Mars/Base"})
    )
    with pytest.raises(ConfigError, match="timezone"):
        await provider.start()
