"""docs/grpc.md documents every RPC and every message field the gateway serves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from timebase.provider import provider_pb2
from timebase.v1 import bars_pb2

DOC = (Path(__file__).resolve().parents[2] / "docs" / "grpc.md").read_text()
FILES = [provider_pb2.DESCRIPTOR, bars_pb2.DESCRIPTOR]


@pytest.mark.parametrize(
    "method",
    [m.full_name for f in FILES for s in f.services_by_name.values() for m in s.methods],
)
def test_every_rpc_is_documented(method: str) -> None:
    service, _, name = method.rpartition(".")
    assert f"{service.split('.')[-1]}/{name}" in DOC, f"{method} is not in docs/grpc.md"


@pytest.mark.parametrize(
    "message", [m for f in FILES for m in f.message_types_by_name.values()], ids=lambda m: m.name
)
def test_every_message_field_is_documented(message: object) -> None:
    section = re.search(
        rf"#### `{re.escape(message.full_name)}`\n\n(.*?)(?:\n#### |\Z)",  # type: ignore[attr-defined]
        DOC,
        re.S,
    )
    assert section, f"no section for {message.full_name} in docs/grpc.md"  # type: ignore[attr-defined]
    documented = dict(re.findall(r"^\| (\d+) \| `(\w+)` \|", section.group(1), re.M))
    actual = {str(f.number): f.name for f in message.fields}  # type: ignore[attr-defined]
    assert documented == actual
