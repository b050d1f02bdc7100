"""Warnings attached to an answer: one JSON shape shared by every door (gRPC, Flight, REST).

A warning says that the answer is usable but not the whole truth (agreements §7):

    {"code": "PARTIAL_DATA" | "STALE_DATA" | "PROVIDER_FALLBACK" | "INVALID_BARS_SKIPPED"
             | "RATE_LIMITED" | "STORE_FAILED",
     "message": "...", "provider"?: "slug", "start"?: ISO-8601, "end"?: ISO-8601,
     "as_of"?: ISO-8601, "count"?: int}

On gRPC the list travels in the trailing metadata `x-timebase-warnings` as a JSON array.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: gRPC trailing-metadata key carrying the JSON list of warnings.
WARNINGS_METADATA_KEY = "x-timebase-warnings"


class WarningCode(enum.StrEnum):
    PARTIAL_DATA = "PARTIAL_DATA"
    STALE_DATA = "STALE_DATA"
    PROVIDER_FALLBACK = "PROVIDER_FALLBACK"
    INVALID_BARS_SKIPPED = "INVALID_BARS_SKIPPED"
    RATE_LIMITED = "RATE_LIMITED"
    #: Bars fetched for the answer could not be stored: the answer holds them; next time they
    #: are fetched again.
    STORE_FAILED = "STORE_FAILED"


@dataclass(frozen=True)
class BarWarning:
    code: WarningCode
    message: str
    provider: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    as_of: datetime | None = None
    count: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code.value, "message": self.message}
        if self.provider is not None:
            out["provider"] = self.provider
        for name in ("start", "end", "as_of"):
            value: datetime | None = getattr(self, name)
            if value is not None:
                out[name] = value.isoformat()
        if self.count is not None:
            out["count"] = self.count
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BarWarning:
        def when(name: str) -> datetime | None:
            raw = data.get(name)
            return datetime.fromisoformat(raw) if isinstance(raw, str) else None

        count = data.get("count")
        return cls(
            WarningCode(data["code"]),
            str(data.get("message", "")),
            provider=data.get("provider"),
            start=when("start"),
            end=when("end"),
            as_of=when("as_of"),
            count=int(count) if count is not None else None,
        )


def encode_warnings(warnings: Iterable[BarWarning]) -> str:
    """The JSON list of `warnings` (what goes into `x-timebase-warnings`)."""
    return json.dumps([w.to_dict() for w in warnings], separators=(",", ":"))


def decode_warnings(raw: str | bytes) -> list[BarWarning]:
    data = json.loads(raw)
    return [BarWarning.from_dict(item) for item in data]


def dedupe(warnings: Iterable[BarWarning]) -> list[BarWarning]:
    """`warnings` in order, each distinct one once."""
    seen: set[BarWarning] = set()
    out: list[BarWarning] = []
    for w in warnings:
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out
