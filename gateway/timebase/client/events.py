"""What a real-time stream yields to the client: `Bar`s and `StreamWarning`s."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from timebase.provider import provider_pb2 as pb


@dataclass(frozen=True)
class Bar:
    """One real-time bar; `final` is False while the bar is still in progress."""

    symbol: str
    interval: str
    provider: str
    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    final: bool
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamWarning:
    """A warning inside a real-time stream (e.g. a provider fell over to another one)."""

    symbol: str
    interval: str
    provider: str
    warnings: list[dict[str, Any]]


def stream_event(msg: pb.TimeSeriesData) -> Bar | StreamWarning:
    metadata = dict(msg.metadata)
    if not msg.HasField("timestamp"):
        raw = metadata.get("warnings", "[]")
        try:
            warnings = json.loads(raw)
        except json.JSONDecodeError:
            warnings = [{"code": "UNKNOWN", "message": raw}]
        return StreamWarning(msg.symbol, msg.interval, msg.provider, warnings)
    return Bar(
        symbol=msg.symbol,
        interval=msg.interval,
        provider=msg.provider,
        timestamp=msg.timestamp.ToDatetime(tzinfo=UTC),
        open=msg.open,
        high=msg.high,
        low=msg.low,
        close=msg.close,
        volume=msg.volume,
        final=metadata.get("final", "true") != "false",
        metadata=metadata,
    )
