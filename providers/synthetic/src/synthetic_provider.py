"""The synthetic provider: offline, deterministic OHLCV bars for `SYN:<NAME>` symbols.

Every value is a pure function of (symbol, interval, bar start), so any split of a range yields
identical rows, and repeated runs anywhere give the same data:

- The log price at instant t is fractal value noise: the sum over octaves k (lattice spacing
  60 s · 2^k, up to ~4 years) of a_k · smoothstep-interpolated uniform noise at the two lattice
  points around t, with a_k ∝ sqrt(spacing) — a Brownian-like path. Lattice values come from
  splitmix64 of (symbol seed, octave, lattice index): integer arithmetic, identical everywhere.
- open = P(t), close = P(t + length of the bar); high and low extend max/min(open, close) by
  hashed amounts of (symbol, interval, t) scaled with the bar length; volume likewise.
  OHLC consistency and positive prices hold by construction.

All of it is computed vectorised with pyarrow.compute (no numpy, no Python loop per bar) and
served as record batches, so the SDK's columnar RPC streams large ranges fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from timebase.sdk import Bar, Provider, RealTimeBar, Subscription, Subscriptions, SymbolInfo

BATCH_ROWS = 65_536
_DAY = 86_400
_WEEK = 7 * _DAY
_MONDAY_OFFSET = 4 * _DAY  # 1970-01-05 was a Monday
_STEPS = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14_400, "1d": _DAY}
_OCTAVES = 22
_BASE_SPACING = 60
# Shifts every instant to a positive number of seconds, so integer division floors (year 1 ok).
_T_OFFSET = 1 << 40
_U64 = pa.uint64()
_F64 = pa.float64()
_GOLDEN = pa.scalar(0x9E3779B97F4A7C15, _U64)
_MIX1 = pa.scalar(0xBF58476D1CE4E5B9, _U64)
_MIX2 = pa.scalar(0x94D049BB133111EB, _U64)
SCHEMA = pa.schema(
    [
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("open", _F64),
        ("high", _F64),
        ("low", _F64),
        ("close", _F64),
        ("volume", _F64),
    ]
)


def _seed(*parts: str) -> int:
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _splitmix(x: pa.Array) -> pa.Array:
    z = pc.add(x, _GOLDEN)
    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, pa.scalar(30, _U64))), _MIX1)
    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, pa.scalar(27, _U64))), _MIX2)
    return pc.bit_wise_xor(z, pc.shift_right(z, pa.scalar(31, _U64)))


def _uniform(seed: int, keys: pa.Array) -> pa.Array:
    """Uniform doubles in [0, 1) from (seed, key) for each uint64 key."""
    mixed = _splitmix(pc.bit_wise_xor(keys, pa.scalar(seed, _U64)))
    return pc.divide(pc.cast(pc.shift_right(mixed, pa.scalar(11, _U64)), _F64), float(1 << 53))


class SeriesModel:
    """The price path of one symbol (independent of the interval)."""

    def __init__(self, symbol: str, daily_volatility: float) -> None:
        self.symbol = symbol
        seed = _seed("synthetic", symbol)
        self.anchor = 10.0 + (seed % 49_000) / 100.0  # 10.00 .. 499.99
        self.daily_volume = float(10 ** (5 + (seed >> 20) % 3) * (1 + (seed >> 30) % 9))
        sigma = daily_volatility / math.sqrt(_DAY)
        self.octaves = [
            (
                _seed("octave", symbol, str(k)),
                _BASE_SPACING << k,
                sigma * math.sqrt(_BASE_SPACING << k),
            )
            for k in range(_OCTAVES)
        ]
        self.sigma = sigma

    def log_level(self, t: pa.Array) -> pa.Array:
        """Log of price / anchor at instants `t` (int64 seconds since the epoch)."""
        shifted = pc.add(t, _T_OFFSET)
        total: pa.Array | None = None
        for seed, spacing, amplitude in self.octaves:
            index = pc.divide(shifted, spacing)
            frac = pc.divide(
                pc.cast(pc.subtract(shifted, pc.multiply(index, spacing)), _F64), float(spacing)
            )
            keys = pc.cast(index, _U64)
            h0 = _uniform(seed, keys)
            h1 = _uniform(seed, pc.add(keys, pa.scalar(1, _U64)))
            weight = pc.multiply(pc.multiply(frac, frac), pc.subtract(3.0, pc.multiply(frac, 2.0)))
            noise = pc.add(h0, pc.multiply(pc.subtract(h1, h0), weight))  # in [0, 1)
            term = pc.multiply(pc.subtract(noise, 0.5), 2.0 * amplitude)
            total = term if total is None else pc.add(total, term)
        assert total is not None
        return total

    def price(self, t: pa.Array) -> pa.Array:
        return pc.multiply(pc.exp(self.log_level(t)), self.anchor)

    def bars(self, interval: str, starts: pa.Array, ends: pa.Array) -> pa.RecordBatch:
        """Bars starting at `starts` and ending at `ends` (int64 seconds)."""
        seed = _seed("bar", self.symbol, interval)
        keys = pc.cast(pc.add(starts, _T_OFFSET), _U64)
        length = pc.cast(pc.subtract(ends, starts), _F64)
        spread = pc.multiply(pc.sqrt(length), 0.8 * self.sigma)
        o = self.price(starts)
        c = self.price(ends)
        up = pc.exp(pc.multiply(_uniform(seed ^ 0x1111, keys), spread))
        down = pc.exp(pc.negate(pc.multiply(_uniform(seed ^ 0x2222, keys), spread)))
        h = pc.multiply(pc.max_element_wise(o, c), up)
        lo = pc.multiply(pc.min_element_wise(o, c), down)
        share = pc.divide(length, float(_DAY))
        noise = pc.add(0.3, pc.multiply(_uniform(seed ^ 0x3333, keys), 1.4))
        volume = pc.floor(pc.multiply(pc.multiply(share, noise), self.daily_volume))
        # Rounding is monotonic, so low <= open, close <= high survives it.
        columns = [pc.round(x, 4) for x in (o, h, lo, c)]
        ts = pc.cast(pc.multiply(starts, 1_000_000), pa.timestamp("us", tz="UTC"))
        return pa.RecordBatch.from_arrays([ts, *columns, volume], schema=SCHEMA)


# ------------------------------------------------------------------------------------------
# Bar start instants


def _ceil_to(value: int, step: int, offset: int = 0) -> int:
    return offset + -((offset - value) // step) * step


def _month_starts(start: int, end: int) -> tuple[list[int], list[int]]:
    """Starts and ends (seconds) of the months whose first day lies in [start, end)."""
    first = datetime.fromtimestamp(start, UTC)
    month = datetime(first.year, first.month, 1, tzinfo=UTC)
    if month.timestamp() < start:
        month = _next_month(month)
    starts: list[int] = []
    while (ts := int(month.timestamp())) < end:
        starts.append(ts)
        month = _next_month(month)
    ends = [*starts[1:], int(month.timestamp())] if starts else []
    return starts, ends


def _next_month(d: datetime) -> datetime:
    return d.replace(year=d.year + 1, month=1) if d.month == 12 else d.replace(month=d.month + 1)


def _is_weekday(t: pa.Array) -> pa.Array:
    """Mask: instants `t` (int64 seconds) falling Monday to Friday (UTC)."""
    shift = _T_OFFSET - (_T_OFFSET % _WEEK)  # whole weeks: weekdays unchanged
    days = pc.divide(pc.add(t, shift), _DAY)
    weekday = pc.subtract(pc.add(days, 3), pc.multiply(pc.divide(pc.add(days, 3), 7), 7))
    return pc.less(weekday, 5)


def bar_starts(
    interval: str, start: int, end: int, *, skip_weekends: bool = False, limit: int | None = None
) -> Iterator[tuple[pa.Array, pa.Array]]:
    """(starts, ends) int64 arrays of the bars in [start, end), in batches, ascending."""
    if interval == "1mo":
        starts, ends = _month_starts(start, end)
        if limit is not None:
            starts, ends = starts[-limit:], ends[-limit:]
        if starts:
            yield pa.array(starts, pa.int64()), pa.array(ends, pa.int64())
        return
    if interval == "1wk":
        step, first = _WEEK, _ceil_to(start, _WEEK, _MONDAY_OFFSET)
    else:
        step = _STEPS[interval]
        first = _ceil_to(start, step)
    weekends = skip_weekends and step <= _DAY
    if limit is not None:
        spare = 2 * max(1, _DAY // step) + 1 if weekends else 0
        back = limit * 7 // 5 + spare if weekends else limit
        count = len(range(first, end, step))
        if count > back:
            first += (count - back) * step
    kept_tail: list[tuple[pa.Array, pa.Array]] = []
    for lo in range(first, end, step * BATCH_ROWS):
        hi = min(end, lo + step * BATCH_ROWS)
        starts = pa.array(range(lo, hi, step), pa.int64())
        if weekends:
            starts = pc.filter(starts, _is_weekday(starts))
        if len(starts) == 0:
            continue
        ends = pc.add(starts, step)
        if limit is None:
            yield starts, ends
        else:
            kept_tail.append((starts, ends))
    if limit is not None and kept_tail:
        starts = pa.concat_arrays([s for s, _ in kept_tail])
        ends = pa.concat_arrays([e for _, e in kept_tail])
        n = len(starts)
        if n > limit:
            starts, ends = starts.slice(n - limit), ends.slice(n - limit)
        yield starts, ends


def period_start(interval: str, t: int) -> int:
    """Start (seconds) of the bar of `interval` containing instant `t`."""
    if interval == "1mo":
        d = datetime.fromtimestamp(t, UTC)
        return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp())
    if interval == "1wk":
        return _MONDAY_OFFSET + (t - _MONDAY_OFFSET) // _WEEK * _WEEK
    step = _STEPS[interval]
    return t // step * step


def period_end(interval: str, start: int) -> int:
    if interval == "1mo":
        return int(_next_month(datetime.fromtimestamp(start, UTC)).timestamp())
    return start + (_WEEK if interval == "1wk" else _STEPS[interval])


# ------------------------------------------------------------------------------------------
# The provider


def _seconds(ts: datetime) -> int:
    """Whole seconds, rounded up (bars start on whole seconds)."""
    return math.ceil((ts - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(seconds=1))


#: What GetSymbols lists: a documented sample (README.md); any SYN:<NAME> is served all the same.
SAMPLE_SYMBOLS = (
    SymbolInfo("SYN:ACME", "Acme Corporation (synthetic)", "equity"),
    SymbolInfo("SYN:GLOBEX", "Globex Corporation (synthetic)", "equity"),
    SymbolInfo("SYN:INITECH", "Initech (synthetic)", "equity"),
    SymbolInfo("SYN:INDEX", "Synthetic index", "index"),
    SymbolInfo("SYN:COIN", "Synthetic coin", "crypto"),
)


class SyntheticProvider(Provider):
    """Deterministic made-up bars for `SYN:<NAME>` symbols; see the module docstring."""

    async def symbols(self) -> Sequence[SymbolInfo]:
        return SAMPLE_SYMBOLS

    def _model(self, symbol: str) -> SeriesModel:
        return SeriesModel(symbol, float(self.options.get("daily_volatility") or 0.015))

    async def get_historical_data(
        self, symbol: str, interval: str, start: datetime, end: datetime, limit: int | None
    ) -> AsyncIterator[Bar | pa.RecordBatch]:
        model = self._model(symbol)
        skip = bool(self.options.get("skip_weekends"))
        for starts, ends in bar_starts(
            interval, _seconds(start), _seconds(end), skip_weekends=skip, limit=limit
        ):
            yield model.bars(interval, starts, ends)
            await asyncio.sleep(0)  # let other requests run between batches

    def current_bar(self, symbol: str, interval: str, now: float) -> tuple[Bar, bool]:
        """The bar in progress at `now` (close = price now) and whether `now` is a weekend."""
        t = int(now)
        start = period_start(interval, t)
        end = min(period_end(interval, start), max(t, start + 1))
        batch = self._model(symbol).bars(
            interval, pa.array([start], pa.int64()), pa.array([end], pa.int64())
        )
        row = batch.to_pylist()[0]
        bar = Bar(
            row["timestamp"],
            row["open"],
            row["high"],
            row["low"],
            row["close"],
            row["volume"],
            {"final": "false"},
        )
        weekend = not pc.all(_is_weekday(pa.array([t], pa.int64()))).as_py()
        return bar, weekend

    def _tick(
        self, active: Sequence[Subscription], last_start: dict[tuple[str, str], int], skip: bool
    ) -> list[RealTimeBar]:
        """The messages of one tick: a final bar where a period ended, then the bar in progress."""
        now = time.time()
        out: list[RealTimeBar] = []
        for sub in active:
            key = (sub.symbol, sub.interval)
            bar, weekend = self.current_bar(sub.symbol, sub.interval, now)
            start = int(bar.timestamp.timestamp())
            previous = last_start.get(key)
            if previous is not None and previous != start:
                out.append(RealTimeBar(sub.symbol, sub.interval, self.final_bar(*key, previous)))
            last_start[key] = start
            if not (skip and weekend and sub.interval in _STEPS):
                out.append(RealTimeBar(sub.symbol, sub.interval, bar))
        return out

    def final_bar(self, symbol: str, interval: str, start: int) -> Bar:
        batch = self._model(symbol).bars(
            interval,
            pa.array([start], pa.int64()),
            pa.array([period_end(interval, start)], pa.int64()),
        )
        row = batch.to_pylist()[0]
        return Bar(
            row["timestamp"],
            row["open"],
            row["high"],
            row["low"],
            row["close"],
            row["volume"],
            {"final": "true"},
        )

    async def stream_real_time(self, subscriptions: Subscriptions) -> AsyncIterator[RealTimeBar]:
        tick = float(self.options.get("realtime_interval_seconds") or 1.0)
        skip = bool(self.options.get("skip_weekends"))
        last_start: dict[tuple[str, str], int] = {}
        while True:
            # One tick's bars are computed in a worker thread: at 100 symbols that is most of a
            # second of pyarrow calls, and the event loop must keep answering health probes.
            ticks = await asyncio.to_thread(self._tick, subscriptions.active, last_start, skip)
            for message in ticks:
                yield message
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscriptions.changed(), tick)
