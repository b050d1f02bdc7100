"""Back-adjustment in the core: exact factors, declared adjustments never applied twice, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from timebase.gateway.adjustments import Adjust, adjust_bars, check_adjust, corporate_events
from timebase.sdk.errors import InvalidRequestError
from timebase.store import BAR_SCHEMA

T0 = datetime(2024, 1, 1, tzinfo=UTC)
#: A 2-for-1 split on bar 2, a dividend of 16 on bar 4 (previous close 64: factor 0.75).
CLOSES = [100.0, 104.0, 52.0, 64.0, 60.0, 62.0]
EVENTS: dict[int, dict[str, str]] = {2: {"split": "2"}, 4: {"dividend": "16", "adj_close": "1"}}


def bars(provider: str = "raw", metadata_style: str = "compact") -> pa.Table:
    n = len(CLOSES)
    sep = (",", ":") if metadata_style == "compact" else (", ", ": ")  # jsonb's text form
    return pa.Table.from_pydict(
        {
            "symbol": ["ACME"] * n,
            "timestamp": [T0 + timedelta(days=i) for i in range(n)],
            "open": [c - 1 for c in CLOSES],
            "high": [c + 2 for c in CLOSES],
            "low": [c - 2 for c in CLOSES],
            "close": CLOSES,
            "volume": [1000.0] * n,
            "interval": ["1d"] * n,
            "provider": [provider] * n,
            "metadata": [
                json.dumps(EVENTS[i], separators=sep) if i in EVENTS else None for i in range(n)
            ],
        },
        schema=BAR_SCHEMA,
    )


@pytest.mark.parametrize("style", ["compact", "jsonb"])
def test_splits_adjust_earlier_prices_and_volume(style: str) -> None:
    out = adjust_bars(bars(metadata_style=style), Adjust.SPLITS, {})
    assert out.column("close").to_pylist() == [50.0, 52.0, 52.0, 64.0, 60.0, 62.0]
    assert out.column("open").to_pylist() == [49.5, 51.5, 51.0, 63.0, 59.0, 61.0]
    assert out.column("high").to_pylist() == [51.0, 53.0, 54.0, 66.0, 62.0, 64.0]
    assert out.column("low").to_pylist() == [49.0, 51.0, 50.0, 62.0, 58.0, 60.0]
    assert out.column("volume").to_pylist() == [2000.0, 2000.0, 1000.0, 1000.0, 1000.0, 1000.0]
    assert out.schema == BAR_SCHEMA
    assert out.column("metadata") == bars(metadata_style=style).column("metadata")


def test_all_adds_dividends_on_prices_only() -> None:
    out = adjust_bars(bars(), Adjust.ALL, {})
    assert out.column("close").to_pylist() == [37.5, 39.0, 39.0, 48.0, 60.0, 62.0]
    assert out.column("volume").to_pylist() == [2000.0, 2000.0, 1000.0, 1000.0, 1000.0, 1000.0]


def test_none_is_the_stored_table() -> None:
    table = bars()
    assert adjust_bars(table, Adjust.NONE, {}) is table


def test_what_a_provider_declares_is_not_applied_again() -> None:
    declared = {"split-adjusted": frozenset({"splits"}), "both": frozenset({"splits", "dividends"})}
    stored = bars("split-adjusted")
    assert adjust_bars(stored, Adjust.SPLITS, declared).equals(stored)
    assert adjust_bars(stored, Adjust.ALL, declared).column("close").to_pylist() == [
        75.0, 78.0, 39.0, 48.0, 60.0, 62.0,
    ]  # fmt: skip
    assert adjust_bars(stored, Adjust.ALL, declared).column("volume") == stored.column("volume")
    both = bars("both")
    assert adjust_bars(both, Adjust.ALL, declared).equals(both)


def test_rows_follow_their_own_provider() -> None:
    mixed = pa.concat_tables([bars("raw").slice(0, 3), bars("split-adjusted").slice(3)])
    declared = {"split-adjusted": frozenset({"splits"})}
    out = adjust_bars(mixed, Adjust.ALL, declared)
    assert out.column("close").to_pylist() == [37.5, 39.0, 39.0, 48.0, 60.0, 62.0]


def test_a_dividend_on_the_first_bar_has_no_previous_close() -> None:
    table = bars().slice(4)  # the dividend's bar first
    assert adjust_bars(table, Adjust.ALL, {}).column("close").to_pylist() == [60.0, 62.0]


def test_events_are_read_from_the_bars() -> None:
    events = corporate_events(bars())
    assert events.to_pylist() == [
        {"timestamp": T0 + timedelta(days=2), "provider": "raw", "kind": "split", "value": 2.0},
        {"timestamp": T0 + timedelta(days=4), "provider": "raw", "kind": "dividend", "value": 16.0},
    ]
    assert corporate_events(bars().slice(0, 2)).num_rows == 0
    assert corporate_events(BAR_SCHEMA.empty_table()).num_rows == 0


def test_a_zero_split_ratio_is_no_split() -> None:
    table = bars().set_column(
        9, "metadata", pa.array(['{"split": "0.0", "dividend": "0"}'] * 6, pa.string())
    )
    assert adjust_bars(table, Adjust.ALL, {}).equals(table)
    assert corporate_events(table).num_rows == 0


@pytest.mark.parametrize(
    ("raw", "mode"), [("", Adjust.NONE), ("ALL", Adjust.ALL), (None, Adjust.NONE)]
)
def test_check_adjust_accepts(raw: str | None, mode: Adjust) -> None:
    assert check_adjust(raw) is mode


def test_check_adjust_names_the_field_and_the_values() -> None:
    with pytest.raises(InvalidRequestError) as info:
        check_adjust("dividends")
    assert str(info.value) == "adjust: unknown value 'dividends'; valid values: none, splits, all"
    with pytest.raises(InvalidRequestError) as info:
        check_adjust(" ", empty_ok=False)
    assert str(info.value) == "adjust: unknown value ' '; valid values: none, splits, all"
