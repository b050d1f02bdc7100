"""Provider options: the option types of a manifest's ``schema`` and the validated values.

Options follow Home Assistant add-ons: ``options`` holds the defaults and ``schema`` the type of
each option (``str``, ``int``, ``float``, ``bool``, ``url``, ``email``, ``port``, ``password``,
``match(<regex>)``, ``list(a|b|c)``, ``int(min,max)``, ``float(min,max)``; a trailing ``?`` makes
an option optional). `parse_option_type` reads one type into an `OptionSpec`, which coerces
values; `validate_options` builds the `Options` mapping a provider receives from the manifest's
defaults and the JSON object in ``TIMEBASE_PROVIDER_OPTIONS``. Secrets are masked in its repr, in
error messages and wherever TimeBase shows options: options typed ``password`` (or ``secret``),
and options of any type whose name contains ``key``, ``token``, ``secret`` or ``password``
(`is_secret_name`; ``api_key: str`` is a secret). The manifest itself is `timebase.sdk.manifest`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from timebase.sdk.conventions import parse_bool
from timebase.sdk.errors import ConfigError

OPTIONS_ENV = "TIMEBASE_PROVIDER_OPTIONS"
SECRET_MASK = "**********"
#: An option whose name contains one of these (case-insensitive) is a secret, whatever its type.
SECRET_NAME_PARTS = ("key", "token", "secret", "password")


def is_secret_name(name: str) -> bool:
    """True when option `name` names a secret (`api_key`, `AccessToken`, `db_password`, …)."""
    lowered = name.lower()
    return any(part in lowered for part in SECRET_NAME_PARTS)


_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
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
        """Typed `password`, or named like a secret (`is_secret_name`)."""
        return self.type == "password" or is_secret_name(self.name)

    def coerce(self, value: Any, where: str) -> Any:
        """`value` converted to this option's type, or ConfigError naming `where`."""
        t = self.type
        if t in ("str", "password", "url", "email", "match", "list"):
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ConfigError(
                    f"{where}: expected a string, got {show_value(value, self.secret)}"
                )
            text = str(value)
            if t == "url":
                parts = urlsplit(text)
                if not parts.scheme or not (parts.netloc or parts.path):
                    raise ConfigError(
                        f"{where}: expected a URL, got {show_value(text, self.secret)}"
                    )
            elif t == "email" and not _EMAIL_RE.fullmatch(text):
                raise ConfigError(
                    f"{where}: expected an e-mail address, got {show_value(text, self.secret)}"
                )
            elif t == "match" and self.pattern is not None and not re.fullmatch(self.pattern, text):
                raise ConfigError(
                    f"{where}: {show_value(text, self.secret)} does not match {self.pattern!r}"
                )
            elif t == "list" and text not in self.choices:
                raise ConfigError(
                    f"{where}: expected one of {', '.join(self.choices)}, "
                    f"got {show_value(text, self.secret)}"
                )
            return text
        if t == "bool":
            if isinstance(value, bool):
                return value
            parsed = parse_bool(value, strict=True) if isinstance(value, str) else None
            if parsed is not None:
                return parsed
            raise ConfigError(f"{where}: expected a bool, got {show_value(value, self.secret)}")
        if t in ("int", "port"):
            number: int | float
            shown = show_value(value, self.secret)
            if isinstance(value, bool):
                raise ConfigError(f"{where}: expected an integer, got {shown}")
            if isinstance(value, int):
                number = value
            elif isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
                number = int(value)
            else:
                raise ConfigError(f"{where}: expected an integer, got {shown}")
            low, high = (1, 65535) if t == "port" else (self.minimum, self.maximum)
            self._check_bounds(number, low, high, where, self.secret)
            return number
        if t == "float":
            shown = show_value(value, self.secret)
            if isinstance(value, bool):
                raise ConfigError(f"{where}: expected a number, got {shown}")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{where}: expected a number, got {shown}") from None
            if not math.isfinite(number):
                raise ConfigError(f"{where}: expected a finite number, got {shown}")
            self._check_bounds(number, self.minimum, self.maximum, where, self.secret)
            return number
        raise AssertionError(t)  # pragma: no cover - types are checked at parse time

    @staticmethod
    def _check_bounds(
        number: float, low: float | None, high: float | None, where: str, secret: bool = False
    ) -> None:
        shown = repr(SECRET_MASK) if secret else _num(number)
        if low is not None and number < low:
            raise ConfigError(f"{where}: must be >= {_num(low)}, got {shown}")
        if high is not None and number > high:
            raise ConfigError(f"{where}: must be <= {_num(high)}, got {shown}")


class Options(Mapping[str, Any]):
    """The validated options of a provider; secrets (`secrets`, and every option named like a
    secret) are masked in repr/str."""

    def __init__(self, values: Mapping[str, Any], secrets: frozenset[str] = frozenset()) -> None:
        self._values = dict(values)
        self._secrets = secrets | {k for k in self._values if is_secret_name(k)}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def redacted(self) -> dict[str, Any]:
        """The options with secrets replaced by a mask: safe to log."""
        return redact(self._values, self._secrets)

    def secret_values(self) -> frozenset[str]:
        """The secrets' values as text (to scrub them from a provider's output)."""
        return frozenset(
            str(v) for k, v in self._values.items() if k in self._secrets and v not in (None, "")
        )

    def __repr__(self) -> str:
        return f"Options({self.redacted()!r})"

    __str__ = __repr__


class OptionTypeError(ValueError):
    """An option type string in a schema is not valid (the manifest names file and key)."""


def parse_option_type(name: str, value: Any, description: str = "") -> OptionSpec:
    """The `OptionSpec` of option `name` written as `value` (e.g. ``int(1,10)?``)."""
    if not isinstance(value, str):
        raise OptionTypeError(
            f"expected a type string such as 'str' or 'int?', got {show_value(value)}"
        )
    m = _SCHEMA_RE.fullmatch(value.strip())
    if m is None:
        raise OptionTypeError(f"unknown option type {value!r}")
    kind, arg, optional = m["type"], m["arg"], m["optional"] is not None
    if kind == "match":
        if arg is None:
            raise OptionTypeError("match(...) needs a regular expression")
        try:
            re.compile(arg)
        except re.error as exc:
            raise OptionTypeError(f"invalid regular expression {arg!r}: {exc}") from None
        return OptionSpec(name, "match", optional, pattern=arg, description=description)
    if kind == "list":
        choices = tuple(c for c in (arg or "").split("|") if c)
        if not choices:
            raise OptionTypeError("list(...) needs choices such as list(a|b)")
        return OptionSpec(name, "list", optional, choices=choices, description=description)
    canonical = _TYPE_ALIASES.get(kind)
    if canonical is None:
        raise OptionTypeError(
            f"unknown option type {value!r} (expected str, int, float, bool, url, email, "
            "port, password, match(re) or list(a|b), optionally followed by '?')"
        )
    low = high = None
    if arg is not None:
        if canonical not in ("int", "float"):
            raise OptionTypeError(f"type {kind!r} takes no arguments")
        low, high = _bounds(arg)
    return OptionSpec(name, canonical, optional, minimum=low, maximum=high, description=description)


def _bounds(arg: str) -> tuple[float | None, float | None]:
    parts = [p.strip() for p in arg.split(",")]
    if len(parts) != 2:
        raise OptionTypeError(f"expected bounds as (min,max), got ({arg})")
    try:
        low = float(parts[0]) if parts[0] else None
        high = float(parts[1]) if parts[1] else None
    except ValueError:
        raise OptionTypeError(f"bounds must be numbers, got ({arg})") from None
    return low, high


def options_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The JSON object in TIMEBASE_PROVIDER_OPTIONS ({} when unset)."""
    env = os.environ if env is None else env
    raw = env.get(OPTIONS_ENV, "").strip()
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{OPTIONS_ENV}: not valid JSON ({exc.msg})") from None
    if not isinstance(parsed, dict):
        raise ConfigError(f"{OPTIONS_ENV}: expected a JSON object")
    return parsed


def validate_options(
    schema: Mapping[str, OptionSpec],
    defaults: Mapping[str, Any],
    given: Mapping[str, Any],
    *,
    source: str = "options",
    slug: str = "",
) -> Options:
    """`given` over `defaults`, each value checked against `schema`."""
    values: dict[str, Any] = {}
    if schema:
        unknown = sorted(set(given) - set(schema))
        if unknown:
            raise ConfigError(
                f"{source}: unknown option {unknown[0]!r} for provider {slug!r} "
                f"(known: {', '.join(schema) or 'none'})"
            )
    for key, default in defaults.items():
        values[key] = default
    values.update(given)
    for key, spec in schema.items():
        value = values.get(key)
        if value is None or (value == "" and spec.type != "str"):
            if not spec.optional:
                raise ConfigError(f"{source}: {key}: required option has no value")
            values[key] = None
            continue
        values[key] = spec.coerce(value, f"{source}: {key}")
    secrets = frozenset(k for k, s in schema.items() if s.secret)
    return Options(values, secrets)


def redact(values: Mapping[str, Any], secrets: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`values` with each secret (named in `secrets`, or named like one) masked."""
    return {
        k: (SECRET_MASK if (k in secrets or is_secret_name(k)) and v not in (None, "") else v)
        for k, v in values.items()
    }


#: Secret values shorter than this are not masked in free text (they would garble it).
MIN_MASKED_LENGTH = 4


def mask_values(text: str, values: Iterable[str]) -> str:
    """`text` with every occurrence of the secret `values` (longest first) masked."""
    for value in sorted((v for v in values if len(v) >= MIN_MASKED_LENGTH), key=len, reverse=True):
        if value in text:
            text = text.replace(value, SECRET_MASK)
    return text


def show_value(value: Any, secret: bool = False) -> str:
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
