"""`watchlists:` in timebase.yaml: typed, checked at load, errors naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from timebase.core.config import load_config
from timebase.sdk.errors import ConfigError
from timebase.sdk.intervals import Interval


def _load(tmp_path: Path, text: str):
    path = tmp_path / "timebase.yaml"
    path.write_text(text)
    return load_config(path, {}), path


def test_watchlists_are_read_with_their_defaults(tmp_path: Path) -> None:
    config, _ = _load(
        tmp_path,
        "watchlists:\n"
        "  majors:\n"
        "    symbols: [syn:acme, SYN:BOLT, syn:acme]\n"
        "    intervals: [1d, 1h]\n"
        "    lookback_days: 30\n"
        "    schedule: '30 22 * * 1-5'\n"
        "    provider: synthetic\n"
        "  minimal: {symbols: [AAPL]}\n",
    )
    majors, minimal = config.watchlists
    assert (majors.name, majors.symbols, majors.intervals) == (
        "majors",
        ("SYN:ACME", "SYN:BOLT"),
        (Interval.D1, Interval.H1),
    )
    assert (majors.lookback_days, majors.schedule.text, majors.provider) == (
        30,
        "30 22 * * 1-5",
        "synthetic",
    )
    assert majors.items == [
        ("SYN:ACME", Interval.D1),
        ("SYN:ACME", Interval.H1),
        ("SYN:BOLT", Interval.D1),
        ("SYN:BOLT", Interval.H1),
    ]
    assert (minimal.intervals, minimal.lookback_days, minimal.schedule.seconds) == (
        (Interval.D1,),
        365,
        3600,
    )
    assert minimal.provider is None


def test_no_watchlists_by_default(tmp_path: Path) -> None:
    config, _ = _load(tmp_path, "host: 127.0.0.1\n")
    assert config.watchlists == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[AAPL]", "watchlists: expected a mapping of watchlist name to settings"),
        ("{Majors: {symbols: [AAPL]}}", "watchlists: Majors: a watchlist name is lower-case"),
        ("{majors: {intervals: [1d]}}", "watchlists: majors.symbols: required"),
        ("{majors: {symbols: []}}", "watchlists: majors.symbols: expected a non-empty list"),
        ("{majors: {symbols: ['A B']}}", "watchlists: majors.symbols: symbol: 'A B' may contain"),
        (
            "{majors: {symbols: [AAPL], intervals: [2h]}}",
            "watchlists: majors.intervals: unknown interval '2h'; valid intervals: 1m,",
        ),
        (
            "{majors: {symbols: [AAPL], lookback_days: 0}}",
            "watchlists: majors.lookback_days: expected a positive integer, got 0",
        ),
        (
            "{majors: {symbols: [AAPL], schedule: '61 * * * *'}}",
            "watchlists: majors.schedule: cron minute field: '61' is outside 0-59",
        ),
        (
            "{majors: {symbols: [AAPL], provider: symbols}}",
            "watchlists: majors.provider: 'symbols' is a reserved word",
        ),
        (
            "{majors: {symbols: [AAPL], every: 5}}",
            "watchlists: majors.every: unknown key (known keys: symbols, intervals,",
        ),
    ],
)
def test_bad_watchlists_name_the_file_and_the_key(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, f"watchlists: {body}\n")
    assert str(info.value).startswith(f"{tmp_path / 'timebase.yaml'}: ")
    assert message in str(info.value)
