"""TimeBase configuration: typed, validated at load, errors naming the file or variable and key.

Sources, later ones winning: built-in defaults, `timebase.yaml` (path from TIMEBASE_CONFIG, else
`./timebase.yaml` when it exists), then environment variables:

    TIMEBASE_DATABASE_URL   database.url        (unset: start the embedded PostgreSQL)
    TIMEBASE_DATA_DIR       data_dir            (default ./.timebase)
    TIMEBASE_DATABASE_EMBEDDED_TIMESCALEDB  database.embedded_timescaledb  (auto | on | off)
    TIMEBASE_HOST           host                (default 127.0.0.1)
    TIMEBASE_GRPC_PORT      grpc_port           (default 50051)
    TIMEBASE_FLIGHT_PORT    flight_port         (default 8815)
    TIMEBASE_HTTP_PORT      http_port           (default 8080)
    TIMEBASE_LOG_LEVEL      log.level           (default INFO)
    TIMEBASE_LOG_FORMAT     log.format          (json | text, default json)
    TIMEBASE_PROVIDERS_DIRECTORIES  providers.directories  (extra provider folders, os.pathsep-separated)
    TIMEBASE_PROVIDERS_ENABLED      providers.enabled      (comma-separated slugs; unset: all)
    TIMEBASE_PROVIDERS_DISABLED     providers.disabled     (comma-separated slugs)
    TIMEBASE_PROVIDERS_RUNTIME      providers.runtime      (process | docker | remote, default process)

The `routing` section tunes the gateway's router (priorities override its ranking) and failover:

    routing:
      priorities: {local-files: 1, yahoo-finance: 2}
      retries: 1
      circuit_failures: 3
      circuit_reset_seconds: 30

The `rest` section tunes the REST door (timebase.rest): per-client rate limiting (a token bucket
per client IP refilled at `rate_limit_per_second`, holding at most `rate_limit_burst` requests)
and the most bars one JSON or CSV response may hold (Arrow and Flight have no limit):

    rest:
      rate_limit_enabled: true
      rate_limit_per_second: 20
      rate_limit_burst: 40
      max_bars: 100000

The `providers` section configures the supervisor (timebase.supervisor): where provider add-ons
are found, which run, in which runtime, with which options, and its watchdog:

    providers:
      directories: [/opt/timebase/providers]
      disabled: [yahoo-finance]
      probe_interval_seconds: 5
      settings:
        synthetic: {options: {skip_weekends: true}}
        legacy: {runtime: remote, address: "10.0.0.5:50052"}
        local-files: {runtime: docker, memory_mb: 200, cpus: 0.5}
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from timebase.core.errors import ConfigError

T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")
RUNTIMES = ("process", "docker", "remote")


@dataclass(frozen=True)
class DatabaseConfig:
    #: libpq URL of an existing PostgreSQL/TimescaleDB; None starts the embedded PostgreSQL.
    url: str | None = None
    #: Connections kept open for concurrent readers and writers.
    pool_size: int = 8
    #: Extra `postgresql.conf` settings for the embedded server (e.g. shared_buffers: 1GB).
    embedded_settings: Mapping[str, str] = field(default_factory=dict)
    #: Preload TimescaleDB in the embedded server: auto (when its files are installed), on, off.
    embedded_timescaledb: str = "auto"


@dataclass(frozen=True)
class RetentionConfig:
    #: Days of intraday bars (1m … 4h) to keep; None keeps them forever.
    intraday_days: int | None = 365
    #: Days of daily, weekly and monthly bars to keep; None keeps them forever.
    daily_days: int | None = None
    #: How often the retention job runs, in seconds.
    interval_seconds: int = 3600


@dataclass(frozen=True)
class LogConfig:
    level: str = "INFO"
    format: str = "json"


@dataclass(frozen=True)
class ProviderSettings:
    """Per-provider settings (`providers.settings.<slug>`)."""

    #: process | docker | remote; None uses `providers.runtime`.
    runtime: str | None = None
    #: `host:port` of a remote provider (required for runtime remote).
    address: str | None = None
    #: Option values, passed to the provider as JSON in TIMEBASE_PROVIDER_OPTIONS.
    options: Mapping[str, Any] = field(default_factory=dict)
    #: docker: image to run instead of the manifest's image or one built from the Dockerfile.
    image: str | None = None
    #: docker: resource limits of the container.
    memory_mb: int = 256
    cpus: float = 1.0
    pids_limit: int = 256


@dataclass(frozen=True)
class ProvidersConfig:
    """The supervisor: discovery, runtimes and watchdog (`providers` section)."""

    #: Folder of the bundled providers; None uses the checkout's `providers/`.
    bundled_dir: Path | None = None
    #: Extra folders holding provider add-ons (`<dir>/<slug>/config.yaml`).
    directories: tuple[Path, ...] = ()
    #: Slugs to run; None runs every discovered provider (minus `disabled`).
    enabled: tuple[str, ...] | None = None
    disabled: tuple[str, ...] = ()
    #: Default runtime of providers without a `settings.<slug>.runtime`.
    runtime: str = "process"
    settings: Mapping[str, ProviderSettings] = field(default_factory=dict)
    #: How long one start (launch + health SERVING) may take.
    start_timeout_seconds: float = 30.0
    #: Watchdog: seconds between health probes, and the timeout of one probe.
    probe_interval_seconds: float = 5.0
    probe_timeout_seconds: float = 3.0
    #: Consecutive failed probes after which a provider is restarted.
    unhealthy_threshold: int = 3
    #: Restart backoff: base * 2**(n-1) seconds, capped at the max.
    restart_backoff_seconds: float = 1.0
    restart_backoff_max_seconds: float = 60.0
    #: Give up (status failed) after this many restarts within the window.
    max_restarts: int = 5
    restart_window_seconds: float = 300.0
    #: SIGTERM (or docker stop) grace before a provider is killed.
    stop_timeout_seconds: float = 5.0


@dataclass(frozen=True)
class RoutingConfig:
    """The gateway's router and failover (`routing` section)."""

    #: Provider slug → priority (lower is tried first); overrides the automatic ranking.
    #: Providers not listed rank after every listed one.
    priorities: Mapping[str, int] = field(default_factory=dict)
    #: Extra attempts at the same provider after a transient error, before the next candidate.
    retries: int = 1
    #: Backoff before a retry: base * 2**(attempt-1) seconds, with full jitter.
    backoff_seconds: float = 0.2
    #: Consecutive failures that open a provider's circuit, and how long it stays open.
    circuit_failures: int = 3
    circuit_reset_seconds: float = 30.0
    #: How long a provider's NOT_FOUND for a symbol is remembered.
    not_found_ttl_seconds: float = 3600.0
    #: Upper bound of one provider call when the client set no deadline.
    request_timeout_seconds: float = 60.0


@dataclass(frozen=True)
class RestConfig:
    """The REST door (`rest` section)."""

    #: Per-client (IP) token bucket: sustained requests per second, and the burst it allows.
    rate_limit_enabled: bool = True
    rate_limit_per_second: float = 20.0
    rate_limit_burst: int = 40
    #: Most bars one JSON or CSV response may hold (Arrow streams have no limit).
    max_bars: int = 100_000


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    grpc_port: int = 50051
    flight_port: int = 8815
    http_port: int = 8080
    data_dir: Path = Path(".timebase")
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    log: LogConfig = field(default_factory=LogConfig)
    providers: ProvidersConfig = field(default_factory=ProvidersConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    rest: RestConfig = field(default_factory=RestConfig)


ENV_KEYS: dict[str, str] = {
    "TIMEBASE_DATABASE_URL": "database.url",
    "TIMEBASE_DATA_DIR": "data_dir",
    "TIMEBASE_DATABASE_EMBEDDED_TIMESCALEDB": "database.embedded_timescaledb",
    "TIMEBASE_HOST": "host",
    "TIMEBASE_GRPC_PORT": "grpc_port",
    "TIMEBASE_FLIGHT_PORT": "flight_port",
    "TIMEBASE_HTTP_PORT": "http_port",
    "TIMEBASE_LOG_LEVEL": "log.level",
    "TIMEBASE_LOG_FORMAT": "log.format",
    "TIMEBASE_PROVIDERS_DIRECTORIES": "providers.directories",
    "TIMEBASE_PROVIDERS_ENABLED": "providers.enabled",
    "TIMEBASE_PROVIDERS_DISABLED": "providers.disabled",
    "TIMEBASE_PROVIDERS_RUNTIME": "providers.runtime",
}


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate the configuration (see the module docstring for the sources)."""
    env = os.environ if environ is None else environ
    if path is None and env.get("TIMEBASE_CONFIG"):
        path = Path(env["TIMEBASE_CONFIG"])
        if not path.is_file():
            raise ConfigError(f"TIMEBASE_CONFIG: no such file: {path}")
    if path is None and Path("timebase.yaml").is_file():
        path = Path("timebase.yaml")

    values: dict[str, Any] = {}
    if path is not None:
        values = _read_yaml(path)
    source = str(path) if path is not None else "defaults"
    config = _build(values, source)

    for var, key in ENV_KEYS.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        config = _set(config, key, raw, source=var)
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _build(values: Mapping[str, Any], source: str) -> Config:
    config = Config()
    for key, value in _flatten(values, source).items():
        config = _set(config, key, value, source=source)
    return config


def _flatten(values: Mapping[str, Any], source: str, prefix: str = "") -> dict[str, Any]:
    sections = {"database", "retention", "log", "providers", "routing", "rest"}
    flat: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if not prefix and key in sections:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {dotted}: expected a mapping")
            flat.update(_flatten(value, source, prefix=f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _set(config: Config, key: str, raw: Any, *, source: str) -> Config:
    parser = _PARSERS.get(key)
    if parser is None:
        known = ", ".join(sorted(_PARSERS))
        raise ConfigError(f"{source}: {key}: unknown key (known keys: {known})")
    try:
        value = parser(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {key}: {exc}") from None
    section, _, name = key.rpartition(".")
    if not section:
        return dataclasses.replace(config, **{name: value})
    inner = getattr(config, section)
    return dataclasses.replace(config, **{section: dataclasses.replace(inner, **{name: value})})


# -- value parsers: raise ValueError with a message saying what was expected --------------------


def _port(raw: Any) -> int:
    value = _int(raw)
    if not 0 <= value <= 65535:
        raise ValueError(f"expected a port number 0-65535, got {raw!r}")
    return value


def _int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"expected an integer, got {raw!r}")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw)
    raise ValueError(f"expected an integer, got {raw!r}")


def _positive_int(raw: Any) -> int:
    value = _int(raw)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {raw!r}")
    return value


def _optional(parser: Callable[[Any], T]) -> Callable[[Any], T | None]:
    def parse(raw: Any) -> T | None:
        if raw is None or (isinstance(raw, str) and raw.strip().lower() in {"", "null", "none"}):
            return None
        return parser(raw)

    return parse


def _positive_float(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(f"expected a positive number, got {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"expected a positive number, got {raw!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"expected a positive number, got {raw!r}")
    return value


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in {"true", "yes", "on", "1"}:
        return True
    if isinstance(raw, str) and raw.strip().lower() in {"false", "no", "off", "0"}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _str(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"expected a non-empty string, got {raw!r}")
    return raw.strip()


def _choice(options: tuple[str, ...], *, upper: bool = False) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        value = _str(raw)
        value = value.upper() if upper else value.lower()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}, got {raw!r}")
        return value

    return parse


def _auto_on_off(raw: Any) -> str:
    """auto | on | off (YAML reads a bare on/off as a boolean: accepted as such)."""
    if isinstance(raw, bool):
        return "on" if raw else "off"
    return _choice(("auto", "on", "off"))(raw)


def _database_url(raw: Any) -> str:
    value = _str(raw)
    if not value.startswith(("postgresql://", "postgres://")):
        raise ValueError("expected a postgresql:// URL")
    return value


def _settings(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ValueError(f"expected a mapping of PostgreSQL settings, got {raw!r}")
    return {str(k): str(v) for k, v in raw.items()}


_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_ADDRESS_RE = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})")


def _slug(raw: Any) -> str:
    value = _str(raw)
    if not _SLUG_RE.fullmatch(value):
        raise ValueError(f"expected a provider slug (a-z, 0-9, '-', '_'), got {raw!r}")
    return value


def _slugs(raw: Any) -> tuple[str, ...]:
    """A list of slugs, or (from the environment) a comma-separated string."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError(f"expected a list of provider slugs, got {raw!r}")
    return tuple(_slug(item) for item in items if not (isinstance(item, str) and not item.strip()))


def _paths(raw: Any) -> tuple[Path, ...]:
    """A list of folders, or (from the environment) an os.pathsep-separated string."""
    items = raw.split(os.pathsep) if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise ValueError(f"expected a list of folders, got {raw!r}")
    return tuple(Path(_str(item)) for item in items if not (isinstance(item, str) and not item))


def _address(raw: Any) -> str:
    value = _str(raw)
    match = _ADDRESS_RE.fullmatch(value)
    if match is None or not 0 < int(match.group(1)) <= 65535:
        raise ValueError(f"expected host:port, got {raw!r}")
    return value


_SETTINGS_PARSERS: dict[str, Callable[[Any], Any]] = {
    "runtime": _choice(RUNTIMES),
    "address": _address,
    "options": lambda raw: _mapping(raw, "a mapping of option values"),
    "image": _str,
    "memory_mb": _positive_int,
    "cpus": _positive_float,
    "pids_limit": _positive_int,
}


def _mapping(raw: Any, what: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValueError(f"expected {what}, got {raw!r}")
    return {str(k): v for k, v in raw.items()}


def _provider_settings(raw: Any) -> dict[str, ProviderSettings]:
    """`{slug: {runtime, address, options, image, memory_mb, cpus, pids_limit}}`."""
    result: dict[str, ProviderSettings] = {}
    for slug, entry in _mapping(raw, "a mapping of provider slug to settings").items():
        try:
            _slug(slug)
        except ValueError as exc:
            raise ValueError(f"{slug}: {exc}") from None
        values: dict[str, Any] = {}
        for key, value in _mapping(entry if entry is not None else {}, "a mapping").items():
            parser = _SETTINGS_PARSERS.get(key)
            if parser is None:
                known = ", ".join(sorted(_SETTINGS_PARSERS))
                raise ValueError(f"{slug}.{key}: unknown key (known keys: {known})")
            try:
                values[key] = parser(value)
            except ValueError as exc:
                raise ValueError(f"{slug}.{key}: {exc}") from None
        settings = ProviderSettings(**values)
        if settings.runtime == "remote" and settings.address is None:
            raise ValueError(f"{slug}.address: required for runtime remote")
        result[slug] = settings
    return result


def _non_negative_int(raw: Any) -> int:
    value = _int(raw)
    if value < 0:
        raise ValueError(f"expected a non-negative integer, got {raw!r}")
    return value


def _priorities(raw: Any) -> dict[str, int]:
    """`{slug: priority}`; lower priorities are tried first."""
    result: dict[str, int] = {}
    for slug, value in _mapping(raw, "a mapping of provider slug to priority").items():
        try:
            _slug(slug)
            result[slug] = _int(value)
        except ValueError as exc:
            raise ValueError(f"{slug}: {exc}") from None
    return result


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "host": _str,
    "grpc_port": _port,
    "flight_port": _port,
    "http_port": _port,
    "data_dir": lambda raw: Path(_str(raw)),
    "database.url": _optional(_database_url),
    "database.pool_size": _positive_int,
    "database.embedded_settings": _settings,
    "database.embedded_timescaledb": _auto_on_off,
    "retention.intraday_days": _optional(_positive_int),
    "retention.daily_days": _optional(_positive_int),
    "retention.interval_seconds": _positive_int,
    "log.level": _choice(LOG_LEVELS, upper=True),
    "log.format": _choice(LOG_FORMATS),
    "providers.bundled_dir": _optional(lambda raw: Path(_str(raw))),
    "providers.directories": _paths,
    "providers.enabled": _optional(_slugs),
    "providers.disabled": _slugs,
    "providers.runtime": _choice(RUNTIMES),
    "providers.settings": _provider_settings,
    "providers.start_timeout_seconds": _positive_float,
    "providers.probe_interval_seconds": _positive_float,
    "providers.probe_timeout_seconds": _positive_float,
    "providers.unhealthy_threshold": _positive_int,
    "providers.restart_backoff_seconds": _positive_float,
    "providers.restart_backoff_max_seconds": _positive_float,
    "providers.max_restarts": _positive_int,
    "providers.restart_window_seconds": _positive_float,
    "providers.stop_timeout_seconds": _positive_float,
    "routing.priorities": _priorities,
    "routing.retries": _non_negative_int,
    "routing.backoff_seconds": _positive_float,
    "routing.circuit_failures": _positive_int,
    "routing.circuit_reset_seconds": _positive_float,
    "routing.not_found_ttl_seconds": _positive_float,
    "routing.request_timeout_seconds": _positive_float,
    "rest.rate_limit_enabled": _bool,
    "rest.rate_limit_per_second": _positive_float,
    "rest.rate_limit_burst": _positive_int,
    "rest.max_bars": _positive_int,
}
