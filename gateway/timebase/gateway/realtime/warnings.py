"""Warnings inside a real-time stream.

A real-time stream has no natural end at which trailing metadata could carry warnings, so the
hub sends each warning as its own `TimeSeriesData` message, in order with the bars:

- ``symbol`` and ``interval`` name the affected subscription, ``provider`` the provider concerned
  (may be empty);
- ``timestamp`` is NOT set and OHLCV are 0 — it is not a bar (``msg.HasField("timestamp")`` is
  false for warnings and true for every bar);
- ``metadata["warnings"]`` is a JSON list in the shape TimeBase uses everywhere (the same as the
  ``x-timebase-warnings`` trailing metadata of historical queries):
  ``[{"code", "message", "provider"?, "start"?, "end"?, "as_of"?, "count"?}]`` with instants as
  ISO 8601 in UTC (``2024-03-04T14:00:00+00:00``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from timebase.provider import provider_pb2 as pb

#: Metadata key of a warning message.
WARNINGS_KEY = "warnings"

PARTIAL_DATA = "PARTIAL_DATA"
PROVIDER_FALLBACK = "PROVIDER_FALLBACK"


def iso(ts_us: int) -> str:
    """An instant (µs since the epoch) as ISO 8601 UTC."""
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ts_us)).isoformat()


def warning(
    code: str,
    message: str,
    *,
    provider: str | None = None,
    start_us: int | None = None,
    end_us: int | None = None,
    count: int | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": code, "message": message}
    if provider:
        entry["provider"] = provider
    if start_us is not None:
        entry["start"] = iso(start_us)
    if end_us is not None:
        entry["end"] = iso(end_us)
    if count is not None:
        entry["count"] = count
    entry["as_of"] = datetime.now(UTC).isoformat()
    return entry


def warning_message(
    symbol: str, interval: str, entry: dict[str, Any], provider: str = ""
) -> pb.TimeSeriesData:
    """A stream message carrying one warning (see the module docstring)."""
    return pb.TimeSeriesData(
        symbol=symbol,
        interval=interval,
        provider=provider or str(entry.get("provider", "")),
        metadata={WARNINGS_KEY: json.dumps([entry])},
    )


def is_warning(msg: pb.TimeSeriesData) -> bool:
    return WARNINGS_KEY in msg.metadata and not msg.HasField("timestamp")


def warnings_of(msg: pb.TimeSeriesData) -> list[dict[str, Any]]:
    """The warnings a message carries ([] for a bar)."""
    raw = msg.metadata.get(WARNINGS_KEY)
    if raw is None or msg.HasField("timestamp"):
        return []
    parsed = json.loads(raw)
    return parsed if isinstance(parsed, list) else []
