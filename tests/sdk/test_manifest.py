"""Manifest loading: typed fields, errors naming file and key, old TimeBase manifests, options."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from timebase.sdk import load_manifest
from timebase.sdk.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

MINIMAL: dict[str, Any] = {
    "name": "Example",
    "version": "1.2.0",
    "slug": "example",
    "intervals": ["1d", "1h"],
}


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def error_of(tmp_path: Path, data: Any) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_manifest(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    return message[len(f"{path}: ") :]


def test_minimal_manifest_defaults(tmp_path: Path) -> None:
    m = load_manifest(write(tmp_path, MINIMAL))
    assert (m.name, m.version, m.slug, m.intervals) == ("Example", "1.2.0", "example", ("1d", "1h"))
    assert m.capabilities.historical_data
    assert not m.capabilities.real_time_streaming
    assert m.data_types == ("ohlcv",)
    assert m.cost == "free"
    assert m.serves_symbol("ANYTHING")
    assert m.path == tmp_path / "config.yaml"


def test_folder_path_finds_config_yaml(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    assert load_manifest(tmp_path).slug == "example"


@pytest.mark.parametrize("key", ["name", "version", "slug", "intervals"])
def test_missing_required_key(tmp_path: Path, key: str) -> None:
    data = {k: v for k, v in MINIMAL.items() if k != key}
    assert error_of(tmp_path, data) == f"{key}: required key is missing"


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (
            {"capabilities": {"historical_data": "yes"}},
            "capabilities.historical_data: expected a bool, got 'yes'",
        ),
        ({"intervals": ["1d", "2h"]}, "intervals[1]: unknown interval '2h'"),
        (
            {"rate_limits": {"requests_per_minute": -5}},
            "rate_limits.requests_per_minute: expected a positive integer, got -5",
        ),
        (
            {"max_lookback_days": {"default": 3650, "1m": "x"}},
            "max_lookback_days.1m: expected a positive integer, got 'x'",
        ),
        (
            {"max_lookback_days": {"2m": 30}},
            "max_lookback_days.2m: expected 'default' or an interval",
        ),
        (
            {"max_days_per_request": {"1m": 0}},
            "max_days_per_request.1m: expected a positive number, got 0",
        ),
        ({"cost": "cheap"}, "cost: expected 'free' or 'paid', got 'cheap'"),
        ({"slug": "Bad Slug"}, "slug: expected lower-case letters"),
        ({"slug": "symbols"}, "slug: 'symbols' is a reserved word (it names a route), not a"),
        ({"host_network": "no"}, "host_network: expected a bool, got 'no'"),
        ({"capabilities": ["historical_data"]}, "capabilities: expected a mapping, got a list"),
        ({"schema": {"region": "list()"}}, "schema.region: list(...) needs choices"),
        ({"schema": {"n": "integer-ish"}}, "schema.n: unknown option type 'integer-ish'"),
        (
            {"options": {"n": "abc"}, "schema": {"n": "int"}},
            "options.n: expected an integer, got 'abc'",
        ),
        (
            {"options": {"n": 1}, "schema": {"m": "int?"}},
            "options.n: option has no entry in schema",
        ),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, patch: dict[str, Any], expected: str) -> None:
    assert error_of(tmp_path, {**MINIMAL, **patch}).startswith(expected)


def test_bad_symbol_regex_names_the_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, {**MINIMAL, "symbols": ["OK:[A-Z]+", "BAD:[A-Z"]})
    assert message.startswith("symbols[1]: invalid regular expression 'BAD:[A-Z'")


def test_bad_match_regex_in_schema(tmp_path: Path) -> None:
    message = error_of(tmp_path, {**MINIMAL, "schema": {"code": "match(^[a-z+$)"}})
    assert message.startswith("schema.code: invalid regular expression")


def test_invalid_yaml_and_empty_file(tmp_path: Path) -> None:
    assert error_of(tmp_path, "name: [unclosed\n").startswith("not valid YAML")
    assert error_of(tmp_path, "") == "manifest is empty"


def test_symbols_full_match_case_insensitive(tmp_path: Path) -> None:
    m = load_manifest(write(tmp_path, {**MINIMAL, "symbols": ["SYN:[A-Z]{1,4}"]}))
    assert m.serves_symbol("SYN:ABC")
    assert m.serves_symbol("syn:abc")
    assert not m.serves_symbol("SYN:ABCDE")  # full match, not a prefix
    assert not m.serves_symbol("XSYN:ABC")


def test_per_interval_limits(tmp_path: Path) -> None:
    m = load_manifest(
        write(
            tmp_path,
            {
                **MINIMAL,
                "max_lookback_days": {"default": 3650, "1m": 30},
                "max_days_per_request": {"1m": 7},
            },
        )
    )
    assert m.lookback_days("1m") == 30
    assert m.lookback_days("1d") == 3650
    assert m.days_per_request("1m") == 7
    assert m.days_per_request("1d") is None
    plain = load_manifest(write(tmp_path, {**MINIMAL, "max_lookback_days": 365}))
    assert plain.lookback_days("1h") == 365


def test_earliest_data_defaults_by_interval_class(tmp_path: Path) -> None:
    m = load_manifest(write(tmp_path, MINIMAL))
    assert m.earliest_data("1h") == datetime(1970, 1, 1, tzinfo=UTC)
    assert m.earliest_data("1d") == datetime(1900, 1, 1, tzinfo=UTC)
    assert m.earliest_data("1mo") == datetime(1900, 1, 1, tzinfo=UTC)


def test_earliest_data_declared(tmp_path: Path) -> None:
    # Unquoted in YAML (a date) and quoted (a string), one for all or per interval.
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(MINIMAL) + "earliest: 1990-01-02\n")
    assert load_manifest(path).earliest_data("1h") == datetime(1990, 1, 2, tzinfo=UTC)
    m = load_manifest(
        write(tmp_path, {**MINIMAL, "earliest": {"default": "1985-06-01", "1h": "2010-01-01"}})
    )
    assert m.earliest_data("1h") == datetime(2010, 1, 1, tzinfo=UTC)
    assert m.earliest_data("1d") == datetime(1985, 6, 1, tzinfo=UTC)
    assert m.earliest_data("1m") == datetime(1985, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yesterday", "earliest: expected a date like 1990-01-01, got 'yesterday'"),
        (1990, "earliest: expected a date like 1990-01-01, got 1990"),
        ("1850-01-01", "earliest: 1850-01-01 is out of range (1900-01-01 to 2200-01-01)"),
        ({"2m": "2000-01-01"}, "earliest.2m: expected 'default' or an interval"),
        ({"1h": "2000-13-01"}, "earliest.1h: expected a date like 1990-01-01, got '2000-13-01'"),
    ],
)
def test_bad_earliest_names_the_key(tmp_path: Path, value: Any, expected: str) -> None:
    assert error_of(tmp_path, {**MINIMAL, "earliest": value}).startswith(expected)


def test_unknown_keys_warn_not_fail(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = {
        **MINIMAL,
        "flavour": "vanilla",
        "capabilities": {"historical_data": True, "teleport": True},
    }
    with caplog.at_level(logging.WARNING, logger="timebase.sdk.manifest"):
        m = load_manifest(write(tmp_path, data))
    assert m.slug == "example"
    messages = [r.getMessage() for r in caplog.records]
    assert any("flavour: unknown manifest key ignored" in msg for msg in messages)
    assert any("capabilities.teleport: unknown manifest key ignored" in msg for msg in messages)


EXISTING_TIMEBASE_MANIFEST = """
name: "Yahoo Finance"
version: "1.0.0"
slug: "yahoo-finance"
description: "Free stock market data from Yahoo Finance"
image: "timebase/yahoo-finance"
arch:
  - amd64
  - arm64
capabilities:
  historical_data: true
  real_time_streaming: false
  backfill: true
data_types:
  - ohlcv
intervals: ["1m", "5m", "15m", "30m", "1h", "1d", "1wk", "1mo"]
rate_limits:
  requests_per_minute: 60
  requests_per_day: 2000
host_network: false
options:
  api_key:
    type: string
    description: "Not needed for Yahoo"
    default: ""
  timeout:
    type: integer
    description: "Request timeout in seconds"
    default: 30
  use_proxy:
    type: boolean
    description: "Route requests through a proxy"
    default: false
"""


def test_existing_timebase_manifest_accepted(tmp_path: Path) -> None:
    m = load_manifest(write(tmp_path, EXISTING_TIMEBASE_MANIFEST))
    assert m.slug == "yahoo-finance"
    assert m.rate_limits.requests_per_minute == 60
    assert m.rate_limits.requests_per_day == 2000
    assert m.arch == ("amd64", "arm64")
    assert {k: s.type for k, s in m.schema.items()} == {
        "api_key": "str",
        "timeout": "int",
        "use_proxy": "bool",
    }
    assert m.schema["timeout"].description == "Request timeout in seconds"
    options = m.load_options({"TIMEBASE_PROVIDER_OPTIONS": '{"timeout": "45"}'})
    assert dict(options) == {"api_key": "", "timeout": 45, "use_proxy": False}


def test_home_assistant_options_and_schema(tmp_path: Path) -> None:
    data = {
        **MINIMAL,
        "options": {
            "api_key": "",
            "region": "us",
            "retries": 3,
            "endpoint": "https://api.example.com",
        },
        "schema": {
            "api_key": "password",
            "region": "list(us|eu|asia)",
            "retries": "int(0,10)",
            "endpoint": "url",
            "ratio": "float?",
            "code": "match(^[A-Z]{3}$)?",
        },
    }
    m = load_manifest(write(tmp_path, data))
    env = {"TIMEBASE_PROVIDER_OPTIONS": '{"api_key": "s3cr3t-value", "region": "eu", "ratio": 0.5}'}
    options = m.load_options(env)
    assert options["api_key"] == "s3cr3t-value"
    assert options["region"] == "eu"
    assert options["retries"] == 3
    assert options["ratio"] == 0.5
    assert options["code"] is None
    assert "s3cr3t" not in repr(options)
    assert "s3cr3t" not in str(options)
    assert options.redacted()["api_key"] == "**********"

    def fails(given: str) -> str:
        with pytest.raises(ConfigError) as info:
            m.load_options({"TIMEBASE_PROVIDER_OPTIONS": given})
        assert "s3cr3t" not in str(info.value)
        return str(info.value)

    assert fails('{"api_key": "s3cr3t", "region": "mars"}') == (
        "TIMEBASE_PROVIDER_OPTIONS: region: expected one of us, eu, asia, got 'mars'"
    )
    assert (
        fails('{"api_key": "s3cr3t", "retries": 11}')
        == "TIMEBASE_PROVIDER_OPTIONS: retries: must be <= 10, got 11"
    )
    assert fails('{"api_key": "s3cr3t", "code": "abcd"}').startswith(
        "TIMEBASE_PROVIDER_OPTIONS: code: 'abcd' does not match"
    )
    assert fails('{"api_key": "s3cr3t", "colour": 1}').startswith(
        "TIMEBASE_PROVIDER_OPTIONS: unknown option 'colour'"
    )
    assert fails("{}") == "TIMEBASE_PROVIDER_OPTIONS: api_key: required option has no value"
    assert fails("[1]") == "TIMEBASE_PROVIDER_OPTIONS: expected a JSON object"
    assert fails("{nope").startswith("TIMEBASE_PROVIDER_OPTIONS: not valid JSON")


def test_bundled_synthetic_manifest_loads() -> None:
    m = load_manifest(ROOT / "providers" / "synthetic" / "config.yaml")
    assert m.slug == "synthetic"
    assert m.intervals == ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1wk", "1mo")
    assert m.serves_symbol("SYN:ACME")
    assert not m.serves_symbol("AAPL")
    options = m.load_options({})
    assert options["skip_weekends"] is False
    assert options["realtime_interval_seconds"] == 1.0


def test_prices_adjusted_for_defaults_to_raw_and_is_typed(tmp_path: Path) -> None:
    assert load_manifest(write(tmp_path, MINIMAL)).prices_adjusted_for == frozenset()
    declared = {**MINIMAL, "prices_adjusted_for": ["splits", "dividends"]}
    assert load_manifest(write(tmp_path, declared)).prices_adjusted_for == frozenset(
        {"splits", "dividends"}
    )
    yahoo = load_manifest(ROOT / "providers" / "yahoo-finance" / "config.yaml")
    assert yahoo.prices_adjusted_for == frozenset({"splits"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["splits", "bonus"], "prices_adjusted_for[1]: unknown adjustment 'bonus'; "
         "valid values: splits, dividends"),
        (["splits", "splits"], "prices_adjusted_for: lists an adjustment twice"),
        ({"splits": True}, "prices_adjusted_for: expected a list of strings, got a mapping"),
    ],
)  # fmt: skip
def test_bad_prices_adjusted_for_names_the_key(tmp_path: Path, value: Any, expected: str) -> None:
    assert error_of(tmp_path, {**MINIMAL, "prices_adjusted_for": value}) == expected
