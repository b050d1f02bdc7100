"""docs/providers.md stays true: its example provider is the tested one, and it passes the kit."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from timebase.core.config import Config, ProvidersConfig, ProviderSettings
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc
from timebase.sdk import load_manifest
from timebase.sdk.testing import ContractCase, ProviderContract, provider_process
from timebase.sdk.wire import to_timestamp_pb
from timebase.supervisor import Supervisor

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "providers.md"
FOLDER = ROOT / "docs" / "examples" / "flat-price"


def test_the_guide_shows_the_example_files_verbatim() -> None:
    shown = re.findall(r"<!-- file: (\S+) -->\n```\w+\n(.*?)```", GUIDE.read_text(), re.S)
    assert [path for path, _ in shown] == [
        "docs/examples/flat-price/config.yaml",
        "docs/examples/flat-price/src/main.py",
    ]
    for path, text in shown:
        assert text == (ROOT / path).read_text(), f"docs/providers.md shows an old {path}"


@pytest.fixture(scope="module")
def target() -> Iterator[str]:
    with provider_process(FOLDER) as address:
        yield address


class TestFlatPrice(ProviderContract):
    @pytest.fixture
    def contract(self, target: str) -> ContractCase:
        return ContractCase(
            target=target,
            manifest=load_manifest(FOLDER / "config.yaml"),
            symbol="FLAT:100",
            start=datetime(2024, 1, 2, tzinfo=UTC),
            end=datetime(2024, 1, 4, tzinfo=UTC),
            unknown_symbol="FLAT:0",
            foreign_symbol="AAPL",
        )


async def test_the_supervisor_runs_it_from_an_extra_directory(tmp_path: Path) -> None:
    config = Config(
        data_dir=tmp_path,
        providers=ProvidersConfig(
            bundled_dir=tmp_path / "no-bundled-providers",
            directories=(FOLDER.parent,),
            settings={"flat-price": ProviderSettings(options={"volume": 7.0})},
            process_user="root",  # see tests/supervisor/test_privileges.py
        ),
    )
    supervisor = Supervisor(config)
    await supervisor.start()
    try:
        state = supervisor.get("flat-price")
        assert state.ready
        assert state.address is not None
        request = pb.HistoricalDataRequest(
            symbol="flat:12.5",
            interval="1h",
            start_time=to_timestamp_pb(datetime(2024, 3, 1, 10, 30, tzinfo=UTC)),
            end_time=to_timestamp_pb(datetime(2024, 3, 1, 13, 0, tzinfo=UTC)),
        )
        async with grpc.aio.insecure_channel(state.address) as channel:
            bars = [
                bar async for bar in pb_grpc.DataProviderStub(channel).GetHistoricalData(request)
            ]
    finally:
        await supervisor.stop()
    assert [(b.symbol, b.timestamp.ToJsonString(), b.close, b.volume) for b in bars] == [
        ("FLAT:12.5", "2024-03-01T11:00:00Z", 12.5, 7.0),
        ("FLAT:12.5", "2024-03-01T12:00:00Z", 12.5, 7.0),
    ]
    assert {b.provider for b in bars} == {"flat-price"}
