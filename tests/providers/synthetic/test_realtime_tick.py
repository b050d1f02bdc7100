"""Synthetic provider: one real-time tick covers every subscription in one vectorised pass and
gives the same values as each series' history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import pyarrow as pa

from timebase.sdk import Bar, Manifest, Subscription

# A Wednesday, 30.5 s into the minute; then 35 s later, in the next minute.
WED = datetime(2024, 1, 10, 12, 0, 30, 500_000, tzinfo=UTC)
SAT = datetime(2024, 1, 13, 9, 30, tzinfo=UTC)


def _subs() -> list[Subscription]:
    subs = [Subscription(f"SYN:T{k:03d}", "1m") for k in range(60)]
    subs += [Subscription("SYN:ACME", iv) for iv in ("5m", "1h", "1d", "1wk", "1mo")]
    return subs


async def _history(provider: Any, symbol: str, interval: str, start: datetime) -> Bar:
    rows: list[Bar] = []
    async for part in provider.get_historical_data(
        symbol, interval, start, start + timedelta(seconds=1), None
    ):
        assert isinstance(part, pa.RecordBatch)
        rows += [Bar(**row, metadata={"final": "true"}) for row in part.to_pylist()]
    assert len(rows) == 1
    return rows[0]


def _provider(synthetic: ModuleType, manifest: Manifest, **options: Any) -> Any:
    return synthetic.SyntheticProvider(manifest, manifest.validate_options(options))


async def test_a_tick_is_each_series_bar_in_progress(
    synthetic: ModuleType, manifest: Manifest
) -> None:
    provider = _provider(synthetic, manifest)
    subs = _subs()
    last: dict[tuple[str, str], int] = {}
    messages = provider.tick(subs, last, WED.timestamp())
    assert [(m.symbol, m.interval) for m in messages] == [(s.symbol, s.interval) for s in subs]
    t = int(WED.timestamp())
    for message in messages:
        model = synthetic.SeriesModel(message.symbol, 0.015)
        start = synthetic.period_start(message.interval, t)
        own = model.bars(message.interval, pa.array([start]), pa.array([t])).to_pylist()[0]
        assert message.bar == Bar(**own, metadata={"final": "false"})
    assert last[("SYN:T000", "1m")] == int(datetime(2024, 1, 10, 12, tzinfo=UTC).timestamp())
    assert last[("SYN:ACME", "1mo")] == int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())


async def test_a_period_that_ended_sends_its_final_bar_as_history_has_it_first(
    synthetic: ModuleType, manifest: Manifest
) -> None:
    provider = _provider(synthetic, manifest)
    subs = _subs()
    last: dict[tuple[str, str], int] = {}
    provider.tick(subs, last, WED.timestamp())
    later = WED + timedelta(seconds=35)  # 12:01:05.5: every 1m and the 5m bar went on
    messages = provider.tick(subs, last, later.timestamp())
    minute = datetime(2024, 1, 10, 12, 0, tzinfo=UTC)
    expected: list[tuple[str, str, str]] = []
    for sub in subs:
        if sub.interval == "1m":
            expected.append((sub.symbol, "1m", "true"))
        expected.append((sub.symbol, sub.interval, "false"))
    assert [(m.symbol, m.interval, m.bar.metadata["final"]) for m in messages] == expected
    finals = [m for m in messages if m.bar.metadata["final"] == "true"]
    assert len(finals) == 60
    for message in finals:
        assert message.bar == await _history(provider, message.symbol, "1m", minute)
        assert message.bar.timestamp == minute
    # The 5m bar in progress still starts at 12:00 and now closes at 12:01:05.
    five = next(m for m in messages if m.interval == "5m")
    assert five.bar.timestamp == minute
    assert five.bar.close != next(m for m in messages if m.interval == "1h").bar.open


async def test_skip_weekends_sends_no_intraday_or_daily_bar_on_saturday(
    synthetic: ModuleType, manifest: Manifest
) -> None:
    provider = _provider(synthetic, manifest, skip_weekends=True)
    messages = provider.tick(_subs(), {}, SAT.timestamp())
    assert [(m.symbol, m.interval) for m in messages] == [
        ("SYN:ACME", "1wk"),
        ("SYN:ACME", "1mo"),
    ]
    weekday = provider.tick(_subs(), {}, WED.timestamp())
    assert len(weekday) == 65
    assert provider.tick([], {}, WED.timestamp()) == []


def test_many_series_at_once_equal_each_one_alone(synthetic: ModuleType) -> None:
    start = int(datetime(2024, 1, 2, tzinfo=UTC).timestamp())
    rows = [(f"SYN:M{k}", iv, start + 60 * k, start + 60 * k + 3600) for k in range(40)
            for iv in ("1m", "1h")]  # fmt: skip
    many = synthetic.bars_of_many(rows, 0.02).to_pylist()
    for (symbol, interval, a, b), got in zip(rows, many, strict=True):
        alone = synthetic.SeriesModel(symbol, 0.02).bars(interval, pa.array([a]), pa.array([b]))
        assert got == alone.to_pylist()[0]
