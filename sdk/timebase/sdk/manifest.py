"""The provider manifest (`providers/<slug>/config.yaml`): typed, validated at load.

Every error names the file and the key path, e.g.
``providers/x/config.yaml: capabilities.historical_data: expected a bool, got 'yes'``.
Unknown keys are logged as warnings, not rejected, so manifests of existing TimeBase providers and
of newer SDK versions still load.

The option types of ``schema`` (Home Assistant style) and the validated `Options` a provider
receives live in `timebase.sdk.options`; this module is the manifest's schema. The older TimeBase
option form, ``options: {key: {type, description, default}}``, is accepted too.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from timebase.sdk.conventions import slug_problem
from timebase.sdk.errors import ConfigError
from timebase.sdk.intervals import INTERVALS, Interval, IntervalClass
from timebase.sdk.options import (
    OPTIONS_ENV,
    Options,
    OptionSpec,
    OptionTypeError,
    options_from_env,
    parse_option_type,
    show_value,
    validate_options,
)

log = logging.getLogger("timebase.sdk.manifest")

_KNOWN_KEYS = frozenset(
    {
        "name",
        "version",
        "slug",
        "description",
        "url",
        "arch",
        "image",
        "capabilities",
        "data_types",
        "intervals",
        "symbols",
        "rate_limits",
        "max_lookback_days",
        "max_days_per_request",
        "earliest",
        "cost",
        "options",
        "schema",
        "host_network",
        "prices_adjusted_for",
        "calendars",
    }
)
#: What a calendar name in a manifest may look like (the gateway checks that it exists).
_CALENDAR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_/\-]{0,31}")


# --------------------------------------------------------------------------------------------
# Typed pieces

#: What a manifest's `prices_adjusted_for` may list.
PRICE_ADJUSTMENTS = ("splits", "dividends")
#: Where a provider's data begins when its manifest does not say (`earliest:`).
DEFAULT_EARLIEST: dict[IntervalClass, date] = {
    IntervalClass.INTRADAY: date(1970, 1, 1),
    IntervalClass.DAILY: date(1900, 1, 1),
}
#: The dates an `earliest:` may name (the gateway accepts nothing outside them).
_EARLIEST_BOUNDS = (date(1900, 1, 1), date(2200, 1, 1))


@dataclass(frozen=True)
class Capabilities:
    historical_data: bool = True
    real_time_streaming: bool = False
    backfill: bool = False


@dataclass(frozen=True)
class RateLimits:
    """Upstream request limits; None means unlimited."""

    requests_per_minute: int | None = None
    requests_per_day: int | None = None


@dataclass(frozen=True)
class CalendarRule:
    """`calendars:` entry: symbols fully matching `pattern` (case-insensitive) trade on the
    sessions of `calendar` (an exchange_calendars name such as XNYS, or 24/7 / 24/5)."""

    pattern: re.Pattern[str]
    calendar: str


@dataclass(frozen=True)
class Manifest:
    """A validated provider manifest."""

    name: str
    version: str
    slug: str
    intervals: tuple[str, ...]
    description: str = ""
    url: str | None = None
    arch: tuple[str, ...] = ()
    image: str | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
    data_types: tuple[str, ...] = ("ohlcv",)
    #: Symbol patterns (full match, case-insensitive); empty means "any symbol".
    symbols: tuple[re.Pattern[str], ...] = ()
    rate_limits: RateLimits = field(default_factory=RateLimits)
    #: How far back data exists: "default" plus per-interval overrides; empty means unknown.
    max_lookback_days: Mapping[str, int] = field(default_factory=dict)
    #: Longest range one upstream request may cover, per interval ("default" allowed).
    max_days_per_request: Mapping[str, float] = field(default_factory=dict)
    #: The first date data exists, "default" plus per-interval overrides (`earliest_data`).
    earliest: Mapping[str, date] = field(default_factory=dict)
    cost: str = "free"
    #: Option defaults as written in the manifest.
    options: Mapping[str, Any] = field(default_factory=dict)
    schema: Mapping[str, OptionSpec] = field(default_factory=dict)
    host_network: bool = False
    #: What the provider's prices already include ("splits", "dividends"); empty: raw prices.
    #: Adjustment at query time applies only what is missing.
    prices_adjusted_for: frozenset[str] = frozenset()
    #: Default trading calendar per symbol pattern, first match wins; none: continuous time.
    calendars: tuple[CalendarRule, ...] = ()
    #: The file the manifest came from (None when built from a mapping).
    path: Path | None = None

    # -- queries ---------------------------------------------------------------------------

    def serves_symbol(self, symbol: str) -> bool:
        return not self.symbols or any(p.fullmatch(symbol) for p in self.symbols)

    def calendar_for(self, symbol: str) -> str | None:
        """The calendar of the first `calendars` rule matching `symbol` (None: no calendar)."""
        return next((r.calendar for r in self.calendars if r.pattern.fullmatch(symbol)), None)

    def lookback_days(self, interval: str) -> int | None:
        return self.max_lookback_days.get(interval, self.max_lookback_days.get("default"))

    def days_per_request(self, interval: str) -> float | None:
        return self.max_days_per_request.get(interval, self.max_days_per_request.get("default"))

    def earliest_data(self, interval: str) -> datetime:
        """00:00 UTC of the first date this provider has `interval` bars for: the manifest's
        `earliest` (per interval, else its default), else 1970-01-01 for intraday intervals
        and 1900-01-01 for daily and longer ones. The gateway never asks for anything earlier."""
        day = self.earliest.get(interval, self.earliest.get("default"))
        if day is None:
            day = DEFAULT_EARLIEST[Interval(interval).klass]
        return datetime(day.year, day.month, day.day, tzinfo=UTC)

    # -- options ---------------------------------------------------------------------------

    def load_options(self, env: Mapping[str, str] | None = None) -> Options:
        """Validated options: manifest defaults overlaid with the JSON in TIMEBASE_PROVIDER_OPTIONS."""
        return self.validate_options(options_from_env(env), source=OPTIONS_ENV)

    def validate_options(self, given: Mapping[str, Any], source: str = "options") -> Options:
        """`given` over the manifest defaults, each value checked against the schema."""
        return validate_options(self.schema, self.options, given, source=source, slug=self.slug)


# --------------------------------------------------------------------------------------------
# Loading


def load_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read and validate the manifest at `path` (a config.yaml, or a folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "config.yaml"
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read manifest ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}: not valid YAML{where}") from None
    return parse_manifest(data, source=str(p), path=p)


def parse_manifest(data: Any, source: str = "<manifest>", path: Path | None = None) -> Manifest:
    """Validate an already-parsed manifest mapping; errors are prefixed with `source`."""
    return _Parser(source).manifest(data, path)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(
            f"{self.source}: {key}: {message}" if key else f"{self.source}: {message}"
        )

    def warn_unknown(
        self, mapping: Mapping[str, Any], known: set[str] | frozenset[str], at: str
    ) -> None:
        for key in mapping:
            if key not in known:
                log.warning(
                    "%s: %s%s: unknown manifest key ignored",
                    self.source,
                    f"{at}." if at else "",
                    key,
                )

    # -- scalar helpers --------------------------------------------------------------------

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {show_value(value)}")
        return {str(k): v for k, v in value.items()}

    def string(self, value: Any, key: str, *, allow_number: bool = False) -> str:
        if allow_number and isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {show_value(value)}")
        return value.strip()

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected a bool, got {show_value(value)}")
        return value

    def positive_int(self, value: Any, key: str, *, allow_none: bool = False) -> int | None:
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(key, f"expected a positive integer, got {show_value(value)}")
        return value

    def positive_number(self, value: Any, key: str) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value <= 0:
            raise self.fail(key, f"expected a positive number, got {show_value(value)}")
        return value  # type: ignore[no-any-return]

    def string_list(self, value: Any, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of strings, got {show_value(value)}")
        return tuple(self.string(v, f"{key}[{i}]") for i, v in enumerate(value))

    # -- sections --------------------------------------------------------------------------

    def manifest(self, data: Any, path: Path | None) -> Manifest:
        if data is None:
            raise self.fail("", "manifest is empty")
        top = self.mapping(data, "")
        self.warn_unknown(top, _KNOWN_KEYS, "")
        for key in ("name", "version", "slug", "intervals"):
            if key not in top:
                raise self.fail(key, "required key is missing")

        slug = self.string(top["slug"], "slug")
        problem = slug_problem(slug)
        if problem is not None:
            raise self.fail("slug", problem)
        intervals = self.string_list(top["intervals"], "intervals")
        if not intervals:
            raise self.fail("intervals", "must list at least one interval")
        for i, interval in enumerate(intervals):
            if interval not in INTERVALS:
                raise self.fail(
                    f"intervals[{i}]",
                    f"unknown interval {interval!r}; valid intervals: {', '.join(INTERVALS)}",
                )
        if len(set(intervals)) != len(intervals):
            raise self.fail("intervals", "lists an interval twice")

        cost = top.get("cost", "free")
        if cost not in ("free", "paid"):
            raise self.fail("cost", f"expected 'free' or 'paid', got {show_value(cost)}")

        schema = self.schema(top.get("schema"))
        options, schema = self.options(top.get("options"), schema)

        url = top.get("url")
        image = top.get("image")
        return Manifest(
            name=self.string(top["name"], "name"),
            version=self.string(top["version"], "version", allow_number=True),
            slug=slug,
            intervals=intervals,
            description=str(top.get("description") or "").strip(),
            url=None if url is None else self.string(url, "url"),
            arch=() if top.get("arch") is None else self.string_list(top["arch"], "arch"),
            image=None if image is None else self.string(image, "image"),
            capabilities=self.capabilities(top.get("capabilities")),
            data_types=(
                ("ohlcv",)
                if top.get("data_types") is None
                else self.string_list(top["data_types"], "data_types")
            ),
            symbols=self.symbols(top.get("symbols")),
            rate_limits=self.rate_limits(top.get("rate_limits")),
            max_lookback_days=self.per_interval(
                top.get("max_lookback_days"), "max_lookback_days", integer=True
            ),
            max_days_per_request=self.per_interval(
                top.get("max_days_per_request"), "max_days_per_request", integer=False
            ),
            earliest=self.earliest(top.get("earliest")),
            cost=cost,
            options=options,
            schema=schema,
            host_network=(
                False
                if top.get("host_network") is None
                else self.boolean(top["host_network"], "host_network")
            ),
            prices_adjusted_for=self.adjusted_for(top.get("prices_adjusted_for")),
            calendars=self.calendars(top.get("calendars")),
            path=path,
        )

    def adjusted_for(self, value: Any) -> frozenset[str]:
        key = "prices_adjusted_for"
        if value is None:
            return frozenset()
        kinds = self.string_list(value, key)
        for i, kind in enumerate(kinds):
            if kind not in PRICE_ADJUSTMENTS:
                raise self.fail(
                    f"{key}[{i}]",
                    f"unknown adjustment {kind!r}; valid values: {', '.join(PRICE_ADJUSTMENTS)}",
                )
        if len(set(kinds)) != len(kinds):
            raise self.fail(key, "lists an adjustment twice")
        return frozenset(kinds)

    def calendars(self, value: Any) -> tuple[CalendarRule, ...]:
        """`calendars: [{symbols: <regex>, calendar: XNYS}, ...]`."""
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail("calendars", f"expected a list, got {show_value(value)}")
        rules = []
        for i, item in enumerate(value):
            key = f"calendars[{i}]"
            entry = self.mapping(item, key)
            self.warn_unknown(entry, {"symbols", "calendar"}, key)
            for required in ("symbols", "calendar"):
                if required not in entry:
                    raise self.fail(f"{key}.{required}", "required key is missing")
            name = self.string(entry["calendar"], f"{key}.calendar", allow_number=False)
            if not _CALENDAR_NAME.fullmatch(name):
                raise self.fail(
                    f"{key}.calendar",
                    f"{name!r} is not a calendar name (e.g. XNYS, XLON, 24/7, 24/5)",
                )
            pattern = self.string(entry["symbols"], f"{key}.symbols")
            try:
                compiled = re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise self.fail(
                    f"{key}.symbols", f"invalid regular expression {pattern!r}: {exc}"
                ) from None
            rules.append(CalendarRule(compiled, name))
        return tuple(rules)

    def capabilities(self, value: Any) -> Capabilities:
        if value is None:
            return Capabilities()
        caps = self.mapping(value, "capabilities")
        known = {"historical_data", "real_time_streaming", "backfill"}
        self.warn_unknown(caps, known, "capabilities")
        defaults = Capabilities()
        return Capabilities(
            **{
                k: self.boolean(caps[k], f"capabilities.{k}") if k in caps else getattr(defaults, k)
                for k in sorted(known)
            }
        )

    def rate_limits(self, value: Any) -> RateLimits:
        if value is None:
            return RateLimits()
        limits = self.mapping(value, "rate_limits")
        known = {"requests_per_minute", "requests_per_day"}
        self.warn_unknown(limits, known, "rate_limits")
        return RateLimits(
            requests_per_minute=self.positive_int(
                limits.get("requests_per_minute"),
                "rate_limits.requests_per_minute",
                allow_none=True,
            ),
            requests_per_day=self.positive_int(
                limits.get("requests_per_day"), "rate_limits.requests_per_day", allow_none=True
            ),
        )

    def symbols(self, value: Any) -> tuple[re.Pattern[str], ...]:
        if value is None:
            return ()
        patterns = self.string_list(value, "symbols")
        compiled = []
        for i, pattern in enumerate(patterns):
            try:
                compiled.append(re.compile(pattern, re.IGNORECASE))
            except re.error as exc:
                raise self.fail(
                    f"symbols[{i}]", f"invalid regular expression {pattern!r}: {exc}"
                ) from None
        return tuple(compiled)

    def per_interval(self, value: Any, key: str, *, integer: bool) -> dict[str, Any]:
        if value is None:
            return {}
        check = self.positive_int if integer else self.positive_number
        if not isinstance(value, dict):
            return {"default": check(value, key)}
        result: dict[str, Any] = {}
        for k, v in value.items():
            name = str(k)
            if name != "default" and name not in INTERVALS:
                raise self.fail(
                    f"{key}.{name}",
                    f"expected 'default' or an interval ({', '.join(INTERVALS)})",
                )
            result[name] = check(v, f"{key}.{name}")
        return result

    def earliest(self, value: Any) -> dict[str, date]:
        """`earliest: 1990-01-01`, or per interval: `{default: 1990-01-01, 1m: 2020-01-01}`."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            return {"default": self.date(value, "earliest")}
        result: dict[str, date] = {}
        for k, v in value.items():
            name = str(k)
            if name != "default" and name not in INTERVALS:
                raise self.fail(
                    f"earliest.{name}",
                    f"expected 'default' or an interval ({', '.join(INTERVALS)})",
                )
            result[name] = self.date(v, f"earliest.{name}")
        return result

    def date(self, value: Any, key: str) -> date:
        """A date (YAML's 1990-01-01, or the string) within 1900-01-01 .. 2200-01-01."""
        day: date | None = None
        if isinstance(value, datetime):
            day = value.date()
        elif isinstance(value, date):
            day = value
        elif isinstance(value, str):
            try:
                day = date.fromisoformat(value.strip())
            except ValueError:
                day = None
        if day is None:
            raise self.fail(key, f"expected a date like 1990-01-01, got {show_value(value)}")
        low, high = _EARLIEST_BOUNDS
        if not low <= day <= high:
            raise self.fail(key, f"{day.isoformat()} is out of range ({low} to {high})")
        return day

    def schema(self, value: Any) -> dict[str, OptionSpec]:
        if value is None or value is False:
            return {}
        schema = self.mapping(value, "schema")
        return {k: self.schema_type(k, v, f"schema.{k}") for k, v in schema.items()}

    def schema_type(self, name: str, value: Any, key: str, description: str = "") -> OptionSpec:
        try:
            return parse_option_type(name, value, description)
        except OptionTypeError as exc:
            raise self.fail(key, str(exc)) from None

    def options(
        self, value: Any, schema: dict[str, OptionSpec]
    ) -> tuple[dict[str, Any], dict[str, OptionSpec]]:
        if value is None:
            return {}, schema
        options = self.mapping(value, "options")
        defaults: dict[str, Any] = {}
        merged = dict(schema)
        for key, item in options.items():
            if isinstance(item, dict) and "type" in item:
                # The older TimeBase form: {type, description, default[, required]}.
                where = f"options.{key}"
                spec = self.schema_type(
                    key,
                    str(item["type"]),
                    f"{where}.type",
                    description=str(item.get("description") or ""),
                )
                self.warn_unknown(item, {"type", "description", "default", "required"}, where)
                required = item.get("required", False)
                if not isinstance(required, bool):
                    raise self.fail(
                        f"{where}.required", f"expected a bool, got {show_value(required)}"
                    )
                spec = OptionSpec(**{**spec.__dict__, "optional": spec.optional or not required})
                if key not in merged:
                    merged[key] = spec
                defaults[key] = item.get("default")
            else:
                defaults[key] = item
        for key, spec in merged.items():
            default = defaults.get(key)
            if default is not None and default != "":
                spec.coerce(default, f"{self.source}: options.{key}")
        if schema:
            for key in defaults:
                if key not in merged:
                    raise self.fail(f"options.{key}", "option has no entry in schema")
        return defaults, merged
