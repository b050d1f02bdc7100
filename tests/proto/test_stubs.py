"""The provider contract: stubs up to date, wire numbers fixed, columnar shapes identical."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2

from timebase.provider import provider_pb2
from timebase.v1 import bars_pb2

PROTO_ROOT = Path(__file__).resolve().parents[2] / "proto"


def _load_generator() -> Any:
    spec = importlib.util.spec_from_file_location("proto_generate", PROTO_ROOT / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_stubs_match_the_proto_files(tmp_path: Path) -> None:
    generated = _load_generator().generate(tmp_path)
    assert generated, "the generator produced nothing"
    stale = [
        str(path.relative_to(tmp_path))
        for path in generated
        if path.read_bytes() != (PROTO_ROOT / path.relative_to(tmp_path)).read_bytes()
    ]
    assert stale == [], f"stale stubs (run `make proto`): {stale}"


def _fields(message: type) -> dict[str, tuple[int, int, int]]:
    proto = descriptor_pb2.DescriptorProto()
    message.DESCRIPTOR.CopyToProto(proto)  # type: ignore[attr-defined]
    return {f.name: (f.number, f.type, f.label) for f in proto.field}


def test_seed_wire_numbers_are_unchanged() -> None:
    """Existing TimeBase providers depend on these numbers: never renumber."""
    T = descriptor_pb2.FieldDescriptorProto
    assert {k: v[0] for k, v in _fields(provider_pb2.TimeSeriesData).items()} == {
        "symbol": 1, "timestamp": 2, "open": 3, "high": 4, "low": 5, "close": 6,
        "volume": 7, "interval": 8, "provider": 9, "metadata": 10,
    }  # fmt: skip
    assert _fields(provider_pb2.TimeSeriesData)["volume"][1] == T.TYPE_DOUBLE
    caps = {k: v[0] for k, v in _fields(provider_pb2.ProviderCapabilities).items()}
    assert caps == {
        "name": 1, "version": 2, "slug": 3, "supports_historical": 4, "supports_realtime": 5,
        "supports_backfill": 6, "data_types": 7, "intervals": 8, "rate_limits": 9,
        "max_lookback_days": 10,
    }  # fmt: skip
    request = {k: v[0] for k, v in _fields(provider_pb2.HistoricalDataRequest).items()}
    assert request == {
        "symbol": 1, "interval": 2, "start_time": 3, "end_time": 4, "limit": 5, "provider": 6,
        "refresh": 7,  # added by the gateway (fetch again even if stored)
    }  # fmt: skip
    assert provider_pb2.StreamControl.Action.items() == [
        ("SUBSCRIBE", 0), ("UNSUBSCRIBE", 1), ("PAUSE", 2), ("RESUME", 3),
    ]  # fmt: skip
    assert provider_pb2.HealthStatus.Status.items() == [
        ("HEALTHY", 0), ("DEGRADED", 1), ("UNHEALTHY", 2),
    ]  # fmt: skip
    service = provider_pb2.DESCRIPTOR.services_by_name["DataProvider"]
    assert service.full_name == "timebase.provider.DataProvider"
    assert {m.name: (m.input_type.full_name, m.output_type.full_name) for m in service.methods} == {
        "GetCapabilities": ("google.protobuf.Empty", "timebase.provider.ProviderCapabilities"),
        "GetHistoricalData": (
            "timebase.provider.HistoricalDataRequest",
            "timebase.provider.TimeSeriesData",
        ),
        "StreamRealTimeData": (
            "timebase.provider.StreamControl",
            "timebase.provider.TimeSeriesData",
        ),
        "HealthCheck": ("google.protobuf.Empty", "timebase.provider.HealthStatus"),
        "GetHistoricalBars": (
            "timebase.provider.HistoricalDataRequest",
            "timebase.provider.BarChunk",
        ),
        "GetSymbols": ("google.protobuf.Empty", "timebase.provider.SymbolList"),
    }


def test_provider_and_gateway_chunks_are_wire_identical() -> None:
    assert _fields(provider_pb2.BarChunk) == _fields(bars_pb2.GetBarsResponse)
    chunk = provider_pb2.BarChunk(
        symbol="SYN:ACME", interval="1d", provider="synthetic",
        timestamps_us=[1_704_153_600_000_000, 1_704_240_000_000_000],
        open=[1.5, 2.0], high=[2.5, 3.0], low=[1.0, 1.5], close=[2.0, 2.5], volume=[10.0, 0.0],
        metadata=['{"a":"1"}', ""],
    )  # fmt: skip
    forwarded = bars_pb2.GetBarsResponse.FromString(chunk.SerializeToString())
    assert forwarded.SerializeToString() == chunk.SerializeToString()
    assert list(forwarded.close) == [2.0, 2.5]


@pytest.mark.parametrize("message", [provider_pb2.TimeSeriesData, provider_pb2.BarChunk])
def test_messages_live_in_the_compatibility_package(message: type) -> None:
    assert message.DESCRIPTOR.full_name.startswith("timebase.provider.")  # type: ignore[attr-defined]


def test_symbol_messages_match_the_original_timebase() -> None:
    """GetSymbols as the original TimeBase defines it: same names and field numbers."""
    T = descriptor_pb2.FieldDescriptorProto
    info = _fields(provider_pb2.SymbolInfo)
    assert {k: v[0] for k, v in info.items()} == {
        "symbol": 1, "name": 2, "type": 3, "intervals": 4, "metadata": 5,
    }  # fmt: skip
    assert info["intervals"][2] == T.LABEL_REPEATED
    assert info["metadata"][1] == T.TYPE_MESSAGE  # map<string, string>
    entry = provider_pb2.SymbolInfo.DESCRIPTOR.fields_by_name["metadata"].message_type
    assert entry is not None
    assert entry.GetOptions().map_entry
    assert [f.type for f in entry.fields] == [T.TYPE_STRING, T.TYPE_STRING]
    assert {k: v[:2] for k, v in _fields(provider_pb2.SymbolList).items()} == {
        "symbols": (1, T.TYPE_MESSAGE)
    }


BUF = PROTO_ROOT.parent / ".tools" / "node_modules" / ".bin" / "buf"
PREVIOUS = Path(__file__).resolve().parent / "previous"


def _buf_breaking(current: Path, previous: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUF), "breaking", str(current), "--against", str(previous)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.buf
@pytest.mark.skipif(
    not BUF.exists(), reason="buf is not installed (make lint installs it with npm)"
)
def test_buf_breaking_against_the_contract_before_get_symbols(tmp_path: Path) -> None:
    """tests/proto/previous/ is provider.proto before GetSymbols: adding it breaks nothing, and
    the check does catch a renumbered field."""
    current = tmp_path / "current" / "timebase" / "provider"
    current.mkdir(parents=True)
    source = (PROTO_ROOT / "timebase" / "provider" / "provider.proto").read_text()
    (current / "provider.proto").write_text(source)
    clean = _buf_breaking(tmp_path / "current", PREVIOUS)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    (current / "provider.proto").write_text(
        source.replace("string interval = 8;", "string interval = 11;")
    )
    broken = _buf_breaking(tmp_path / "current", PREVIOUS)
    assert broken.returncode != 0
    assert "TimeSeriesData" in broken.stdout + broken.stderr
