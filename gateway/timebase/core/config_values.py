"""Value parsers of the configuration keys (`timebase.core.config` declares the keys).

Each takes a raw value (from YAML, or a string from the environment) and returns the typed value,
or raises ValueError with a message saying what was expected; the loader prefixes the file or
variable and the key.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from timebase.sdk.conventions import RESERVED_SLUGS, is_slug, parse_bool

T = TypeVar("T")

_ADDRESS_RE = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")


def port(raw: Any) -> int:
    value = integer(raw)
    if not 0 <= value <= 65535:
        raise ValueError(f"expected a port number 0-65535, got {raw!r}")
    return value


def integer(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected an integer, got {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw)
    raise ValueError(f"expected an integer, got {raw!r}")


def positive_int(raw: Any) -> int:
    value = integer(raw)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {raw!r}")
    return value


def non_negative_int(raw: Any) -> int:
    value = integer(raw)
    if value < 0:
        raise ValueError(f"expected a non-negative integer, got {raw!r}")
    return value


def optional(parser: Callable[[Any], T]) -> Callable[[Any], T | None]:
    def parse(raw: Any) -> T | None:
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"", "null", "none"}):
            return None
        return parser(raw)

    return parse


def positive_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"expected a positive number, got {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"expected a positive number, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"expected a positive number, got {raw!r}")
    return value


def boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    value = parse_bool(raw) if isinstance(raw, str) else None
    if value is not None:
        return value
    raise ValueError(f"expected true or false, got {raw!r}")


def text(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"expected a non-empty string, got {raw!r}")
    return raw.strip()


def path(raw: Any) -> Path:
    return Path(text(raw))


def readable_file(raw: Any) -> Path:
    """A file that exists and this process can read (checked at load, not at first use)."""
    value = path(raw)
    try:
        with value.open("rb"):
            pass
    except FileNotFoundError:
        raise ValueError(f"no such file: {value}") from None
    except IsADirectoryError:
        raise ValueError(f"not a file: {value}") from None
    except OSError as exc:
        raise ValueError(f"cannot read {value}: {exc.strerror or exc}") from None
    if not value.is_file():
        raise ValueError(f"not a file: {value}")
    return value


def choice(options: tuple[str, ...], *, upper: bool = False) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = text(raw)
        value = value.upper() if upper else value.lower()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {raw!r}")
        return value

    return parse


def auto_on_off(raw: Any) -> str:
    """auto | on | off (YAML reads a bare on/off as a boolean: accepted as such)."""
    if isinstance(raw, bool):
        return "on" if raw else "off"
    return choice(("auto", "on", "off"))(raw)


def database_url(raw: Any) -> str:
    value = text(raw)
    if not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("expected a postgresql:// URL")
    return value


#: Settings that, off, lose acknowledged writes in a crash: the embedded server keeps them on.
DURABILITY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes")
_OFF = frozenset({"off", "false", "no", "0"})


def pg_settings(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ValueError(f"expected a mapping of PostgreSQL settings, got {raw!r}")
    settings = {str(k): str(v) for k, v in raw.items()}
    for name, value in settings.items():
        if name.lower() in DURABILITY_SETTINGS and value.strip().lower() in _OFF:
            raise ValueError(
                f"{name}: {value} would lose acknowledged writes when the server crashes; "
                f"TimeBase keeps {', '.join(DURABILITY_SETTINGS)} on"
            )
    return settings


def slug(raw: Any) -> str:
    value = text(raw)
    if value in RESERVED_SLUGS:
        raise ValueError(f"{value!r} is a reserved word (it names a route), not a provider slug")
    if not is_slug(value):
        raise ValueError(f"expected a provider slug (a-z, 0-9, '-', '_'), got {raw!r}")
    return value


def slugs(raw: Any) -> tuple[str, ...]:
    """A list of slugs, or (from the environment) a comma-separated string."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError(f"expected a list of provider slugs, got {raw!r}")
    return tuple(slug(item) for item in items if not (isinstance(item, str) and not item.strip()))


def paths(raw: Any) -> tuple[Path, ...]:
    """A list of folders, or (from the environment) an os.pathsep-separated string."""
    items = raw.split(os.pathsep) if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError(f"expected a list of folders, got {raw!r}")
    return tuple(Path(text(item)) for item in items if not (isinstance(item, str) and not item))


def address(raw: Any) -> str:
    value = text(raw)
    match = _ADDRESS_RE.fullmatch(value)
    if match is None or not 0 < int(match.group(1)) <= 65535:
        raise ValueError(f"expected host:port, got {raw!r}")
    return value


_FLIGHT_LOCATION_RE = re.compile(
    r"(grpc|grpc\+tcp|grpc\+tls)://(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})"
)


def flight_locations(raw: Any) -> tuple[str, ...]:
    """Flight locations `grpc://host:port` or `grpc+tls://host:port`: a list, or (from the
    environment) a comma-separated string."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError(f"expected a list of Flight locations, got {raw!r}")
    found = []
    for item in items:
        value = item.strip() if isinstance(item, str) else item
        if value == "":
            continue
        match = _FLIGHT_LOCATION_RE.fullmatch(value) if isinstance(value, str) else None
        if match is None or not 0 < int(match.group(2)) <= 65535:
            raise ValueError(
                f"expected a Flight location such as grpc+tls://gateway-2:8815, got {item!r}"
            )
        found.append(value)
    return tuple(found)


def mapping(raw: Any, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError(f"expected {what}, got {raw!r}")
    return {str(k): v for k, v in raw.items()}


def option_values(raw: Any) -> dict[str, Any]:
    return mapping(raw, "a mapping of option values")


def priorities(raw: Any) -> dict[str, int]:
    """`{slug: priority}`; lower priorities are tried first."""
    result: dict[str, int] = {}
    for name, value in mapping(raw, "a mapping of provider slug to priority").items():
        try:
            slug(name)
            result[name] = integer(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return result


_HOST_RE = re.compile(r"(?:\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?")
_ORIGIN_RE = re.compile(r"(https?)://(?:\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::(\d{1,5}))?")


def _items(raw: Any, what: str) -> list[str]:
    """A list of strings, or (from the environment) a comma-separated string."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError(f"expected a list of {what}, got {raw!r}")
    out = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"expected a list of {what}, got {item!r} in it")
        if item.strip():
            out.append(item.strip().lower())
    return out


def host_names(raw: Any) -> tuple[str, ...]:
    """Host header values: `name`, `name:port`, `[v6]`, `[v6]:port`, or `*` (any host)."""
    hosts = []
    for item in _items(raw, "host names"):
        match = _HOST_RE.fullmatch(item)
        if item != "*" and (match is None or not 0 < int(match.group(1) or 1) <= 65535):
            raise ValueError(f"expected a host name, host:port or *, got {item!r}")
        hosts.append(item)
    return tuple(hosts)


def origins(raw: Any) -> tuple[str, ...]:
    """Browser origins: `http(s)://host[:port]` (no path, no trailing slash)."""
    found = []
    for item in _items(raw, "origins"):
        match = _ORIGIN_RE.fullmatch(item.rstrip("/"))
        if match is None or not 0 < int(match.group(2) or 1) <= 65535:
            raise ValueError(f"expected an origin such as https://app.example.com, got {item!r}")
        found.append(item.rstrip("/"))
    return tuple(found)


_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def env_names(raw: Any) -> tuple[str, ...]:
    """Environment variable names: a list, or a comma-separated string."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError(f"expected a list of environment variable names, got {raw!r}")
    names = []
    for item in items:
        if not isinstance(item, str) or not _ENV_NAME_RE.fullmatch(item.strip()):
            raise ValueError(f"expected an environment variable name, got {item!r}")
        names.append(item.strip())
    return tuple(names)


def with_password(url: str, password: str) -> str:
    """The libpq URL `url` with its user's password set to `password` (percent-encoded)."""
    parts = urlsplit(url)
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]  # as written (already percent-encoded)
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))
