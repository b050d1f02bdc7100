"""The local-files provider, in-process (fast) and as a real `python src/main.py` subprocess."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from timebase.sdk import Manifest, ProviderServer, load_manifest
from timebase.sdk.testing import provider_process

ROOT = Path(__file__).resolve().parents[3]
PROVIDER_DIR = ROOT / "providers" / "local-files"
CONTRACT_SYMBOL = "ACME"
CONTRACT_START = datetime(2024, 1, 1, tzinfo=UTC)
CONTRACT_END = datetime(2024, 7, 1, tzinfo=UTC)
_STEPS = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14_400}


def load_module() -> ModuleType:
    src = str(PROVIDER_DIR / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    import local_files_provider  # type: ignore[import-not-found]

    module: ModuleType = local_files_provider
    return module


def contract_starts(interval: str) -> list[datetime]:
    """Bar starts of the contract data set: weekdays of H1 2024 (intraday: one week of 2024-06)."""
    if interval == "1mo":
        return [datetime(2024, m, 1, tzinfo=UTC) for m in range(1, 7)]
    if interval == "1wk":
        return [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(weeks=w) for w in range(26)]
    if interval == "1d":
        days = (CONTRACT_START + timedelta(days=d) for d in range(182))
        return [d for d in days if d.weekday() < 5]
    step = timedelta(seconds=_STEPS[interval])
    first = datetime(2024, 6, 24, 13, 30, tzinfo=UTC)
    out: list[datetime] = []
    for day in range(5):
        t = first + timedelta(days=day)
        while t < first + timedelta(days=day, hours=6, minutes=30):
            out.append(t)
            t += step
    return out


def write_contract_files(directory: Path) -> None:
    """ACME at every interval: Parquet for intraday, CSV (Yahoo style) for daily and longer."""
    for interval in ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1wk", "1mo"):
        starts = contract_starts(interval)
        n = len(starts)
        close = [100.0 + (i % 17) * 0.25 for i in range(n)]
        opens = [100.0 + (i % 13) * 0.25 for i in range(n)]
        high = [max(o, c) + 0.5 for o, c in zip(opens, close, strict=True)]
        low = [min(o, c) - 0.5 for o, c in zip(opens, close, strict=True)]
        volume = [1000.0 + i for i in range(n)]
        if interval in ("1d", "1wk", "1mo"):
            lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
            lines += [
                f"{s.date().isoformat()},{o},{h},{lo},{c},{c * 0.99},{int(v)}"
                for s, o, h, lo, c, v in zip(starts, opens, high, low, close, volume, strict=True)
            ]
            name = "ACME.csv" if interval == "1d" else f"ACME_{interval}.csv"
            (directory / name).write_text("\n".join(lines) + "\n")
        else:
            table = pa.table(
                {
                    "timestamp": pa.array(starts, pa.timestamp("ns", tz="UTC")),
                    "open": opens,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": volume,
                }
            )
            pq.write_table(table, directory / f"acme_{interval}.parquet")


@pytest.fixture(scope="session")
def local_files() -> ModuleType:
    return load_module()


@pytest.fixture(scope="session")
def manifest() -> Manifest:
    return load_manifest(PROVIDER_DIR / "config.yaml")


@pytest.fixture(scope="session")
def contract_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("local-files-contract")
    write_contract_files(directory)
    return directory


@pytest.fixture
async def contract_target(
    local_files: ModuleType, manifest: Manifest, contract_dir: Path
) -> AsyncIterator[str]:
    options = manifest.validate_options({"directory": str(contract_dir)})
    provider = local_files.LocalFilesProvider(manifest, options)
    async with ProviderServer(provider, port=0) as server:
        yield server.target


@pytest.fixture(scope="module")
def process_target(contract_dir: Path) -> Iterator[str]:
    env = {"TIMEBASE_PROVIDER_OPTIONS": json.dumps({"directory": str(contract_dir)})}
    with provider_process(PROVIDER_DIR, env) as target:
        yield target
