"""The provider manifest (`providers/<slug>/config.yaml`): typed, validated at load.

Every error names the file and the key path, e.g.
``providers/x/config.yaml: capabilities.historical_data: expected a bool, got 'yes'``.
Unknown keys are logged as warnings, not rejected, so manifests of existing TimeBase providers and
of newer SDK versions still load.

Options follow Home Assistant add-ons: ``options`` holds the defaults and ``schema`` the type of
each option (``str``, ``int``, ``float``, ``bool``, ``url``, ``email``, ``port``, ``password``,
``match(<regex>)``, ``list(a|b|c)``, ``int(min,max)``, ``float(min,max)``; a trailing ``?`` makes
an option optional). The older TimeBase form, ``options: {key: {type, description, default}}``,
is accepted too. Validated values reach the provider as an `Options` mapping, built from those
defaults and the JSON object in the environment variable ``TIMEBASE_PROVIDER_OPTIONS``; secrets
(``password`` options) are masked in its repr and never logged.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from timebase.sdk.conventions import is_slug, parse_bool
from timebase.sdk.errors import ConfigError
from timebase.sdk.intervals import INTERVALS

log = logging.getLogger("timebase.sdk.manifest")

OPTIONS_ENV = "TIMEBASE_PROVIDER_OPTIONS"
SECRET_MASK = "**********"

_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
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
        "cost",
        "options",
        "schema",
        "host_network",
    }
)
_TYPE_ALIASES = {
    "str": "str",
    "string": "str",
    "text": "str",
    "int": "int",
    "integer": "int",
    "float": "float",
    "number": "float",
    "double": "float",
    "bool": "bool",
    "boolean": "bool",
    "url": "url",
    "email": "email",
    "port": "port",
    "password": "password",
    "secret": "password",
}
_SCHEMA_RE = re.compile(r"(?P<type>[a-z]+)(?:\((?P<arg>.*)\))?(?P<optional>\?)?", re.DOTALL)


# --------------------------------------------------------------------------------------------
# Typed pieces


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
class OptionSpec:
    """The type of one option, parsed from the schema (or the older TimeBase option form)."""

    name: str
    type: str  # str int float bool url email port password match list
    optional: bool = False
    pattern: str | None = None  # match(...)
    choices: tuple[str, ...] = ()  # list(a|b)
    minimum: float | None = None  # int(min,max) / float(min,max)
    maximum: float | None = None
    description: str = ""

    @property
    def secret(self) -> bool:
        return self.type == "password"

    def coerce(self, value: Any, where: str) -> Any:
        """`value` converted to this option's type, or ConfigError naming `where`."""
        t = self.type
        if t in ("str", "password", "url", "email", "match", "list"):
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ConfigError(f"{where}: expected a string, got {_show(value, self.secret)}")
            text = str(value)
            if t == "url":
                parts = urlsplit(text)
                if not parts.scheme or not (parts.netloc or parts.path):
                    raise ConfigError(f"{where}: expected a URL, got {text!r}")
            elif t == "email" and not _EMAIL_RE.fullmatch(text):
                raise ConfigError(f"{where}: expected an e-mail address, got {text!r}")
            elif t == "match" and self.pattern is not None and not re.fullmatch(self.pattern, text):
                raise ConfigError(
                    f"{where}: {_show(text, self.secret)} does not match {self.pattern!r}"
                )
            elif t == "list" and text not in self.choices:
                raise ConfigError(
                    f"{where}: expected one of {', '.join(self.choices)}, got {text!r}"
                )
            return text
        if t == "bool":
            if isinstance(value, bool):
                return value
            parsed = parse_bool(value, strict=True) if isinstance(value, str) else None
            if parsed is not None:
                return parsed
            raise ConfigError(f"{where}: expected a bool, got {value!r}")
        if t in ("int", "port"):
            number: int | float
            if isinstance(value, bool):
                raise ConfigError(f"{where}: expected an integer, got {value!r}")
            if isinstance(value, int):
                number = value
            elif isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
                number = int(value)
            else:
                raise ConfigError(f"{where}: expected an integer, got {value!r}")
            low, high = (1, 65535) if t == "port" else (self.minimum, self.maximum)
            self._check_bounds(number, low, high, where)
            return number
        if t == "float":
            if isinstance(value, bool):
                raise ConfigError(f"{where}: expected a number, got {value!r}")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{where}: expected a number, got {value!r}") from None
            if not math.isfinite(number):
                raise ConfigError(f"{where}: expected a finite number, got {value!r}")
            self._check_bounds(number, self.minimum, self.maximum, where)
            return number
        raise AssertionError(t)  # pragma: no cover - types are checked at parse time

    @staticmethod
    def _check_bounds(number: float, low: float | None, high: float | None, where: str) -> None:
        if low is not None and number < low:
            raise ConfigError(f"{where}: must be >= {_num(low)}, got {_num(number)}")
        if high is not None and number > high:
            raise ConfigError(f"{where}: must be <= {_num(high)}, got {_num(number)}")


class Options(Mapping[str, Any]):
    """The validated options of a provider; `password` options are masked in repr/str."""

    def __init__(self, values: Mapping[str, Any], secrets: frozenset[str] = frozenset()) -> None:
        self._values = dict(values)
        self._secrets = secrets

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def redacted(self) -> dict[str, Any]:
        """The options with secrets replaced by a mask: safe to log."""
        return {
            k: (SECRET_MASK if k in self._secrets and v not in (None, "") else v)
            for k, v in self._values.items()
        }

    def __repr__(self) -> str:
        return f"Options({self.redacted()!r})"

    __str__ = __repr__


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
    cost: str = "free"
    #: Option defaults as written in the manifest.
    options: Mapping[str, Any] = field(default_factory=dict)
    schema: Mapping[str, OptionSpec] = field(default_factory=dict)
    host_network: bool = False
    #: The file the manifest came from (None when built from a mapping).
    path: Path | None = None

    # -- queries ---------------------------------------------------------------------------

    def serves_symbol(self, symbol: str) -> bool:
        return not self.symbols or any(p.fullmatch(symbol) for p in self.symbols)

    def lookback_days(self, interval: str) -> int | None:
        return self.max_lookback_days.get(interval, self.max_lookback_days.get("default"))

    def days_per_request(self, interval: str) -> float | None:
        return self.max_days_per_request.get(interval, self.max_days_per_request.get("default"))

    # -- options ---------------------------------------------------------------------------

    def load_options(self, env: Mapping[str, str] | None = None) -> Options:
        """Validated options: manifest defaults overlaid with the JSON in TIMEBASE_PROVIDER_OPTIONS."""
        env = os.environ if env is None else env
        given: dict[str, Any] = {}
        raw = env.get(OPTIONS_ENV, "").strip()
        if raw:
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{OPTIONS_ENV}: not valid JSON ({exc.msg})") from None
            if not isinstance(parsed, dict):
                raise ConfigError(f"{OPTIONS_ENV}: expected a JSON object")
            given = parsed
        return self.validate_options(given, source=OPTIONS_ENV)

    def validate_options(self, given: Mapping[str, Any], source: str = "options") -> Options:
        """`given` over the manifest defaults, each value checked against the schema."""
        values: dict[str, Any] = {}
        if self.schema:
            unknown = sorted(set(given) - set(self.schema))
            if unknown:
                raise ConfigError(
                    f"{source}: unknown option {unknown[0]!r} for provider {self.slug!r} "
                    f"(known: {', '.join(self.schema) or 'none'})"
                )
        for key, default in self.options.items():
            values[key] = default
        values.update(given)
        for key, spec in self.schema.items():
            value = values.get(key)
            if value is None or (value == "" and spec.type != "str"):
                if not spec.optional:
                    raise ConfigError(f"{source}: {key}: required option has no value")
                values[key] = None
                continue
            values[key] = spec.coerce(value, f"{source}: {key}")
        secrets = frozenset(k for k, s in self.schema.items() if s.secret)
        return Options(values, secrets)


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
            raise self.fail(key, f"expected a mapping, got {_show(value)}")
        return {str(k): v for k, v in value.items()}

    def string(self, value: Any, key: str, *, allow_number: bool = False) -> str:
        if allow_number and isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {_show(value)}")
        return value.strip()

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected a bool, got {_show(value)}")
        return value

    def positive_int(self, value: Any, key: str, *, allow_none: bool = False) -> int | None:
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.fail(key, f"expected a positive integer, got {_show(value)}")
        return value

    def positive_number(self, value: Any, key: str) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value <= 0:
            raise self.fail(key, f"expected a positive number, got {_show(value)}")
        return value  # type: ignore[no-any-return]

    def string_list(self, value: Any, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of strings, got {_show(value)}")
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
        if not is_slug(slug):
            raise self.fail(
                "slug", f"expected lower-case letters, digits, '-' or '_' (got {slug!r})"
            )
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
            raise self.fail("cost", f"expected 'free' or 'paid', got {_show(cost)}")

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
            cost=cost,
            options=options,
            schema=schema,
            host_network=(
                False
                if top.get("host_network") is None
                else self.boolean(top["host_network"], "host_network")
            ),
            path=path,
        )

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

    def schema(self, value: Any) -> dict[str, OptionSpec]:
        if value is None or value is False:
            return {}
        schema = self.mapping(value, "schema")
        return {k: self.schema_type(k, v, f"schema.{k}") for k, v in schema.items()}

    def schema_type(self, name: str, value: Any, key: str, description: str = "") -> OptionSpec:
        if not isinstance(value, str):
            raise self.fail(
                key, f"expected a type string such as 'str' or 'int?', got {_show(value)}"
            )
        m = _SCHEMA_RE.fullmatch(value.strip())
        if m is None:
            raise self.fail(key, f"unknown option type {value!r}")
        kind, arg, optional = m["type"], m["arg"], m["optional"] is not None
        if kind == "match":
            if arg is None:
                raise self.fail(key, "match(...) needs a regular expression")
            try:
                re.compile(arg)
            except re.error as exc:
                raise self.fail(key, f"invalid regular expression {arg!r}: {exc}") from None
            return OptionSpec(name, "match", optional, pattern=arg, description=description)
        if kind == "list":
            choices = tuple(c for c in (arg or "").split("|") if c)
            if not choices:
                raise self.fail(key, "list(...) needs choices such as list(a|b)")
            return OptionSpec(name, "list", optional, choices=choices, description=description)
        canonical = _TYPE_ALIASES.get(kind)
        if canonical is None:
            raise self.fail(
                key,
                f"unknown option type {value!r} (expected str, int, float, bool, url, email, "
                "port, password, match(re) or list(a|b), optionally followed by '?')",
            )
        low = high = None
        if arg is not None:
            if canonical not in ("int", "float"):
                raise self.fail(key, f"type {kind!r} takes no arguments")
            low, high = self.bounds(arg, key)
        return OptionSpec(
            name, canonical, optional, minimum=low, maximum=high, description=description
        )

    def bounds(self, arg: str, key: str) -> tuple[float | None, float | None]:
        parts = [p.strip() for p in arg.split(",")]
        if len(parts) != 2:
            raise self.fail(key, f"expected bounds as (min,max), got ({arg})")
        try:
            low = float(parts[0]) if parts[0] else None
            high = float(parts[1]) if parts[1] else None
        except ValueError:
            raise self.fail(key, f"bounds must be numbers, got ({arg})") from None
        return low, high

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
                    raise self.fail(f"{where}.required", f"expected a bool, got {_show(required)}")
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


def _show(value: Any, secret: bool = False) -> str:
    if secret:
        return repr(SECRET_MASK)
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)
