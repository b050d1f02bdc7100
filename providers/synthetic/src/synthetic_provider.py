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
served as record batches, so the SDK's columnar RPC streams large ranges fast. A real-time tick
computes the bars of every subscription in one such pass (the series' seeds as arrays, one per
row): a few hundred pyarrow calls whatever the number of symbols.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import math
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, TypeAlias

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


#: A seed for every row (an int) or one per row (a uint64 array aligned with the rows).
Seed: TypeAlias = int | pa.Array


def _seed(*parts: str) -> int:
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _splitmix(x: pa.Array) -> pa.Array:
    z = pc.add(x, _GOLDEN)
    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, pa.scalar(30, _U64))), _MIX1)
    z = pc.multiply(pc.bit_wise_xor(z, pc.shift_right(z, pa.scalar(27, _U64))), _MIX2)
    return pc.bit_wise_xor(z, pc.shift_right(z, pa.scalar(31, _U64)))


def _uniform(seed: Seed, keys: pa.Array) -> pa.Array:
    """Uniform doubles in [0, 1) from (seed, key) for each uint64 key (one seed for all keys, or one per key)."""
    mixed = _splitmix(pc.bit_wise_xor(keys, _u64(seed)))
    return pc.divide(pc.cast(pc.shift_right(mixed, pa.scalar(11, _U64)), _F64), float(1 << 53))


def _u64(seed: Seed) -> pa.Scalar | pa.Array:
    return pa.scalar(seed, _U64) if isinstance(seed, int) else seed


def _twice(value: Seed | float | pa.Array) -> Seed | float | pa.Array:
    """A per-row parameter for the rows twice over (a constant stays one)."""
    return pa.concat_arrays([value, value]) if isinstance(value, pa.Array) else value


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
        return _log_level([seed for seed, _, _ in self.octaves], self.sigma, t)

    def price(self, t: pa.Array) -> pa.Array:
        return pc.multiply(pc.exp(self.log_level(t)), self.anchor)

    def params(self, interval: str) -> BarParams:
        bar = _seed("bar", self.symbol, interval)
        return BarParams(
            [seed for seed, _, _ in self.octaves],
            (bar ^ 0x1111, bar ^ 0x2222, bar ^ 0x3333),
            self.sigma,
            self.anchor,
            self.daily_volume,
        )

    def bars(self, interval: str, starts: pa.Array, ends: pa.Array) -> pa.RecordBatch:
        """Bars starting at `starts` and ending at `ends` (int64 seconds)."""
        return _bars(self.params(interval), starts, ends)


class BarParams(NamedTuple):
    """What a bar's values depend on besides its start and end: constants of one series, or
    arrays with one value per row (several series at once, e.g. one real-time tick)."""

    octave_seeds: Sequence[Seed]
    bar_seeds: tuple[Seed, Seed, Seed]
    sigma: float
    anchor: float | pa.Array
    daily_volume: float | pa.Array


def _log_level(octave_seeds: Sequence[Seed], sigma: float, t: pa.Array) -> pa.Array:
    shifted = pc.add(t, _T_OFFSET)
    total: pa.Array | None = None
    for k, seed in enumerate(octave_seeds):
        spacing = _BASE_SPACING << k
        amplitude = sigma * math.sqrt(spacing)
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


def _bars(params: BarParams, starts: pa.Array, ends: pa.Array) -> pa.RecordBatch:
    """Bars starting at `starts` and ending at `ends` (int64 seconds), one pass over the
    octaves for the opens and closes together."""
    n = len(starts)
    seeds = [_twice(seed) for seed in params.octave_seeds]
    instants = pa.concat_arrays([starts, ends])
    prices = pc.multiply(pc.exp(_log_level(seeds, params.sigma, instants)), _twice(params.anchor))
    o, c = prices.slice(0, n), prices.slice(n)
    keys = pc.cast(pc.add(starts, _T_OFFSET), _U64)
    length = pc.cast(pc.subtract(ends, starts), _F64)
    spread = pc.multiply(pc.sqrt(length), 0.8 * params.sigma)
    up_seed, down_seed, volume_seed = params.bar_seeds
    up = pc.exp(pc.multiply(_uniform(up_seed, keys), spread))
    down = pc.exp(pc.negate(pc.multiply(_uniform(down_seed, keys), spread)))
    h = pc.multiply(pc.max_element_wise(o, c), up)
    lo = pc.multiply(pc.min_element_wise(o, c), down)
    share = pc.divide(length, float(_DAY))
    noise = pc.add(0.3, pc.multiply(_uniform(volume_seed, keys), 1.4))
    volume = pc.floor(pc.multiply(pc.multiply(share, noise), params.daily_volume))
    # Rounding is monotonic, so low <= open, close <= high survives it.
    columns = [pc.round(x, 4) for x in (o, h, lo, c)]
    ts = pc.cast(pc.multiply(starts, 1_000_000), pa.timestamp("us", tz="UTC"))
    return pa.RecordBatch.from_arrays([ts, *columns, volume], schema=SCHEMA)


@functools.lru_cache(maxsize=4096)
def series_model(symbol: str, daily_volatility: float) -> SeriesModel:
    """The model of `symbol` (its seeds are hashes: made once per symbol)."""
    return SeriesModel(symbol, daily_volatility)


def bars_of_many(
    rows: Sequence[tuple[str, str, int, int]], daily_volatility: float
) -> pa.RecordBatch:
    """One bar per (symbol, interval, start, end) row, of any mix of series, in one vectorised
    pass: the same values each series' own `SeriesModel.bars` gives."""
    params = [series_model(symbol, daily_volatility).params(iv) for symbol, iv, _, _ in rows]
    octaves = [pa.array([p.octave_seeds[k] for p in params], _U64) for k in range(_OCTAVES)]
    bar_seeds = tuple(pa.array([p.bar_seeds[j] for p in params], _U64) for j in range(3))
    many = BarParams(
        octaves,
        (bar_seeds[0], bar_seeds[1], bar_seeds[2]),
        daily_volatility / math.sqrt(_DAY),
        pa.array([p.anchor for p in params], _F64),
        pa.array([p.daily_volume for p in params], _F64),
    )
    starts = pa.array([row[2] for row in rows], pa.int64())
    ends = pa.array([row[3] for row in rows], pa.int64())
    return _bars(many, starts, ends)


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

    def _volatility(self) -> float:
        return float(self.options.get("daily_volatility") or 0.015)

    def _model(self, symbol: str) -> SeriesModel:
        return series_model(symbol, self._volatility())

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

    def tick(
        self,
        active: Sequence[Subscription],
        last_start: dict[tuple[str, str], int],
        now: float,
    ) -> list[RealTimeBar]:
        """The messages of one tick at `now`: for each subscription, its final bar where a period
        ended since the last tick (exactly as history returns it), then the bar in progress
        (close = the price now; none on weekends with `skip_weekends`). Every bar of the tick
        comes from one vectorised pass over all subscriptions (`bars_of_many`)."""
        t = int(now)
        weekend = (t // _DAY + 3) % 7 >= 5  # 1970-01-01 was a Thursday
        quiet = weekend and bool(self.options.get("skip_weekends"))
        rows: list[tuple[str, str, int, int]] = []
        finals: list[bool] = []
        for sub in active:
            key = (sub.symbol, sub.interval)
            start = period_start(sub.interval, t)
            previous = last_start.get(key)
            if previous is not None and previous != start:
                rows.append((*key, previous, period_end(sub.interval, previous)))
                finals.append(True)
            last_start[key] = start
            if not (quiet and sub.interval in _STEPS):
                end = min(period_end(sub.interval, start), max(t, start + 1))
                rows.append((*key, start, end))
                finals.append(False)
        if not rows:
            return []
        batch = bars_of_many(rows, self._volatility())
        columns = [batch.column(name).to_pylist() for name in SCHEMA.names]
        return [
            RealTimeBar(symbol, interval, Bar(ts, o, h, lo, c, v, {"final": str(final).lower()}))
            for (symbol, interval, _, _), final, (ts, o, h, lo, c, v) in zip(
                rows, finals, zip(*columns, strict=True), strict=True
            )
        ]

    async def stream_real_time(self, subscriptions: Subscriptions) -> AsyncIterator[RealTimeBar]:
        tick = float(self.options.get("realtime_interval_seconds") or 1.0)
        last_start: dict[tuple[str, str], int] = {}
        while True:
            # One tick is a few dozen pyarrow calls whatever the number of subscriptions; in a
            # worker thread all the same, so the loop answers health probes on a loaded machine.
            ticks = await asyncio.to_thread(
                self.tick, subscriptions.active, last_start, time.time()
            )
            for message in ticks:
                yield message
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscriptions.changed(), tick)
