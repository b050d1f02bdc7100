"""Bar validation: what a provider yields is checked before it is sent.

A bar is valid when its values keep the rules of `timebase.sdk.bar_rules` (prices and volume
finite, volume not negative, open and close in [low, high]; shared with the store), its timestamp lies in the
requested half-open range [start, end), is strictly greater than the previous valid bar's, and —
for daily, weekly and monthly bars — falls on 00:00 UTC. Intraday bars are NOT forced onto a grid
(US equities' hourly bars start at :30). Invalid bars are skipped and counted by reason; the SDK
reports the count as an ``INVALID_BARS_SKIPPED`` warning.

Bars are accumulated as `Columns` (plain Python lists: timestamps in microseconds since the
epoch, UTC), the shape both the per-bar and the columnar RPC are built from, so the two always
carry exactly the same rows.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from timebase.sdk.bar_rules import broken, value_problem
from timebase.sdk.intervals import Interval

if TYPE_CHECKING:
    import pyarrow as pa

    from timebase.sdk.provider import Bar

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_DAY = 86_400_000_000
_ONE_US = timedelta(microseconds=1)

REASONS = {
    "not_finite": "a price or the volume is not a finite number",
    "negative_volume": "negative volume",
    "ohlc": "high/low inconsistent with open/close",
    "out_of_range": "timestamp outside the requested range",
    "not_increasing": "timestamp not after the previous bar's",
    "misaligned": "daily or longer bar not at 00:00 UTC",
    "bad_metadata": "metadata is not a JSON object",
    "bad_timestamp": "missing or invalid timestamp",
}


def to_micros(ts: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return (ts - EPOCH) // _ONE_US


def from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def metadata_json(metadata: Mapping[str, Any] | None) -> str:
    """The canonical JSON of a bar's metadata (values as strings); '' when there is none."""
    if not metadata:
        return ""
    return json.dumps(
        {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def metadata_map(text: str) -> dict[str, str]:
    """The per-bar message's metadata map of a canonical metadata JSON string."""
    if not text:
        return {}
    value = json.loads(text)
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


@dataclass
class Columns:
    """Valid bars as columns; `metadata` holds canonical JSON strings ('' = none)."""

    ts: list[int] = field(default_factory=list)
    open: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    close: list[float] = field(default_factory=list)
    volume: list[float] = field(default_factory=list)
    metadata: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts)

    def extend(self, other: Columns) -> None:
        self.ts.extend(other.ts)
        self.open.extend(other.open)
        self.high.extend(other.high)
        self.low.extend(other.low)
        self.close.extend(other.close)
        self.volume.extend(other.volume)
        self.metadata.extend(other.metadata)

    def slice(self, start: int, stop: int | None = None) -> Columns:
        s = slice(start, stop)
        return Columns(
            self.ts[s],
            self.open[s],
            self.high[s],
            self.low[s],
            self.close[s],
            self.volume[s],
            self.metadata[s],
        )

    def keep_last(self, n: int) -> None:
        """Drop all but the last `n` rows (in place)."""
        drop = len(self) - n
        if drop > 0:
            for name in ("ts", "open", "high", "low", "close", "volume", "metadata"):
                del getattr(self, name)[:drop]


class BarValidator:
    """Validates the bars of one request in arrival order; counts what it skips."""

    def __init__(self, interval: str, start: datetime, end: datetime) -> None:
        self.interval = Interval(interval)
        self.start_us = to_micros(start)
        self.end_us = to_micros(end)
        self.aligned = self.interval.nominal >= timedelta(days=1)
        self.last_ts: int | None = None
        self.skipped: Counter[str] = Counter()

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def describe_skipped(self) -> str:
        parts = [f"{n} {REASONS[reason]}" for reason, n in self.skipped.most_common()]
        return f"skipped {self.skipped_total} invalid bar(s): " + "; ".join(parts)

    # -- one bar at a time -----------------------------------------------------------------

    def check(self, ts: int, values: tuple[float, float, float, float, float]) -> str | None:
        """The reason the bar (ts; open, high, low, close, volume) is invalid, or None.

        Invalid bars are counted; a valid one becomes the previous bar for the order check.
        """
        reason = self._reason(ts, values)
        if reason is None:
            self.last_ts = ts
        else:
            self.skipped[reason] += 1
        return reason

    def _reason(self, ts: int, values: tuple[float, float, float, float, float]) -> str | None:
        reason = value_problem(*values)
        if reason is not None:
            return reason
        if ts < self.start_us or ts >= self.end_us:
            return "out_of_range"
        if self.aligned and ts % US_PER_DAY:
            return "misaligned"
        if self.last_ts is not None and ts <= self.last_ts:
            return "not_increasing"
        return None

    def bars(self, bars: Iterable[Bar]) -> Columns:
        """The valid ones of `bars` as columns."""
        out = Columns()
        for bar in bars:
            try:
                ts = to_micros(bar.timestamp)
                o, h, lo, c, v = (
                    float(bar.open),
                    float(bar.high),
                    float(bar.low),
                    float(bar.close),
                    float(bar.volume),
                )
            except (TypeError, ValueError, AttributeError, OverflowError):
                self.skipped[
                    "bad_timestamp" if not isinstance(bar.timestamp, datetime) else "not_finite"
                ] += 1
                continue
            try:
                meta = metadata_json(bar.metadata)
            except (TypeError, ValueError, AttributeError):
                self.skipped["bad_metadata"] += 1
                continue
            if self.check(ts, (o, h, lo, c, v)) is None:
                out.ts.append(ts)
                out.open.append(o)
                out.high.append(h)
                out.low.append(lo)
                out.close.append(c)
                out.volume.append(v)
                out.metadata.append(meta)
        return out

    # -- a record batch at a time (vectorised with pyarrow) --------------------------------

    def batch(self, batch: pa.RecordBatch) -> Columns:
        """The valid rows of an Arrow record batch as columns."""
        import pyarrow.compute as pc

        if batch.num_rows == 0:
            return Columns()
        arrays, meta_col = _batch_arrays(batch)
        bad = self._batch_bad_rows(arrays)
        if bad is not None:
            keep = pc.invert(bad)
            arrays = tuple(pc.filter(a, keep) for a in arrays)
            if meta_col is not None:
                meta_col = pc.filter(meta_col, keep)
        out = Columns(*(a.to_pylist() for a in arrays))
        bad_meta = False
        if meta_col is not None:
            metas: list[str | None] = []
            for m in meta_col.to_pylist():
                try:
                    metas.append(metadata_json(_json_object(m)) if m else "")
                except (TypeError, ValueError, AttributeError):
                    metas.append(None)
                    bad_meta = True
            out.metadata = metas  # type: ignore[assignment]  # None marks bad rows, removed below
        else:
            out.metadata = [""] * len(out.ts)
        return self._ordered(out, bad_meta)

    def _batch_bad_rows(self, arrays: tuple[Any, ...]) -> Any:
        """Boolean mask of the invalid rows (None when all are valid); counts them by reason."""
        import pyarrow as pa
        import pyarrow.compute as pc

        ts, o, h, lo, c, v = arrays
        columns = {"open": o, "high": h, "low": lo, "close": c, "volume": v}
        checks: list[tuple[str, Any]] = [
            ("bad_timestamp", pc.is_null(ts)),
            *broken(columns),
            ("out_of_range", pc.or_(pc.less(ts, self.start_us), pc.greater_equal(ts, self.end_us))),
        ]
        if self.aligned:
            day_start = pc.multiply(pc.divide(ts, US_PER_DAY), US_PER_DAY)
            checks.append(("misaligned", pc.not_equal(ts, day_start)))
        masks = [(reason, pc.fill_null(mask, True)) for reason, mask in checks]
        bad = masks[0][1]
        for _, mask in masks[1:]:
            bad = pc.or_(bad, mask)
        if not pc.any(bad).as_py():
            return None
        seen = None
        for reason, mask in masks:
            fresh = mask if seen is None else pc.and_(mask, pc.invert(seen))
            count = pc.sum(pc.cast(fresh, pa.int64())).as_py() or 0
            if count:
                self.skipped[reason] += count
            seen = mask if seen is None else pc.or_(seen, mask)
        return bad

    def _ordered(self, out: Columns, bad_meta: bool) -> Columns:
        """`out` without rows that are not strictly after the previous one (or have bad metadata)."""
        ts_list = out.ts
        increasing = all(a < b for a, b in itertools.pairwise(ts_list))
        first_ok = self.last_ts is None or not ts_list or ts_list[0] > self.last_ts
        if increasing and first_ok and not bad_meta:
            if ts_list:
                self.last_ts = ts_list[-1]
            return out
        keep_idx = []
        last = self.last_ts
        for i, t in enumerate(ts_list):
            if out.metadata[i] is None:
                self.skipped["bad_metadata"] += 1
            elif last is None or t > last:
                keep_idx.append(i)
                last = t
            else:
                self.skipped["not_increasing"] += 1
        self.last_ts = last
        return Columns(
            [out.ts[i] for i in keep_idx],
            [out.open[i] for i in keep_idx],
            [out.high[i] for i in keep_idx],
            [out.low[i] for i in keep_idx],
            [out.close[i] for i in keep_idx],
            [out.volume[i] for i in keep_idx],
            [out.metadata[i] for i in keep_idx],
        )


def _batch_arrays(batch: pa.RecordBatch) -> tuple[tuple[Any, ...], Any]:
    """(ts as int64 µs, open, high, low, close, volume as float64), metadata column or None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = batch.schema.names
    missing = [c for c in ("timestamp", "open", "high", "low", "close") if c not in names]
    if missing:
        raise TypeError(f"record batch lacks column(s) {', '.join(missing)}")
    ts_col = batch.column("timestamp")
    if pa.types.is_timestamp(ts_col.type):
        ts_col = pc.cast(ts_col, pa.timestamp("us", tz=ts_col.type.tz), safe=False)
    f64 = pa.float64()
    prices = tuple(pc.cast(batch.column(name), f64) for name in ("open", "high", "low", "close"))
    if "volume" in names:
        volume = pc.cast(batch.column("volume"), f64)
    else:
        volume = pa.array([0.0] * batch.num_rows, f64)
    meta = batch.column("metadata") if "metadata" in names else None
    return (pc.cast(ts_col, pa.int64()), *prices, volume), meta


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("metadata must be a JSON object")
    return value
