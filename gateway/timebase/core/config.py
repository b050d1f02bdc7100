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
    TIMEBASE_AUTH_MODE              auth.mode              (none | keys; see docs/security.md)

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

The `auth` section turns API keys on (timebase.auth, docs/security.md); keys live in the database
(`timebase keys create`) and, for stateless deployments, in `auth.keys` as SHA-256 hashes:

    auth:
      mode: keys
      keys:
        - {name: ci, scope: write, sha256: 3f1c…}
        - {name: admin, scope: admin, sha256_file: /run/secrets/timebase_admin_sha256}
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from timebase.auth import settings as auth_settings
from timebase.auth.keys import ApiKey
from timebase.core import config_values as values
from timebase.sdk.conventions import DEFAULT_FLIGHT_PORT, DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT
from timebase.sdk.errors import ConfigError

T = TypeVar("T")
Parser = Callable[[Any], Any]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")
RUNTIMES = ("process", "docker", "remote")


def key(default: T, parse: Parser, *, env: str | None = None) -> T:
    """A configuration key, declared once: its default, the parser of its raw values and the
    environment variable that sets it (if any)."""
    return field(default=default, metadata={"parse": parse, "env": env})


def key_factory(factory: Callable[[], T], parse: Parser, *, env: str | None = None) -> T:
    """A configuration key whose default is built by `factory` (a mutable default)."""
    return field(default_factory=factory, metadata={"parse": parse, "env": env})


@dataclass(frozen=True)
class DatabaseConfig:
    #: libpq URL of an existing PostgreSQL/TimescaleDB; None starts the embedded PostgreSQL.
    url: str | None = key(None, values.optional(values.database_url), env="TIMEBASE_DATABASE_URL")
    #: Connections kept open for concurrent readers and writers.
    pool_size: int = key(8, values.positive_int)
    #: Extra `postgresql.conf` settings for the embedded server (e.g. shared_buffers: 1GB).
    embedded_settings: Mapping[str, str] = key_factory(dict, values.pg_settings)
    #: Preload TimescaleDB in the embedded server: auto (when its files are installed), on, off.
    embedded_timescaledb: str = key(
        "auto", values.auto_on_off, env="TIMEBASE_DATABASE_EMBEDDED_TIMESCALEDB"
    )


@dataclass(frozen=True)
class RetentionConfig:
    #: Days of intraday bars (1m … 4h) to keep; None keeps them forever.
    intraday_days: int | None = key(365, values.optional(values.positive_int))
    #: Days of daily, weekly and monthly bars to keep; None keeps them forever.
    daily_days: int | None = key(None, values.optional(values.positive_int))
    #: How often the retention job runs, in seconds.
    interval_seconds: int = key(3600, values.positive_int)


@dataclass(frozen=True)
class LogConfig:
    level: str = key("INFO", values.choice(LOG_LEVELS, upper=True), env="TIMEBASE_LOG_LEVEL")
    format: str = key("json", values.choice(LOG_FORMATS), env="TIMEBASE_LOG_FORMAT")


@dataclass(frozen=True)
class ProviderSettings:
    """Per-provider settings (`providers.settings.<slug>`)."""

    #: process | docker | remote; None uses `providers.runtime`.
    runtime: str | None = key(None, values.choice(RUNTIMES))
    #: `host:port` of a remote provider (required for runtime remote).
    address: str | None = key(None, values.address)
    #: Option values, passed to the provider as JSON in TIMEBASE_PROVIDER_OPTIONS.
    options: Mapping[str, Any] = key_factory(dict, values.option_values)
    #: docker: image to run instead of the manifest's image or one built from the Dockerfile.
    image: str | None = key(None, values.text)
    #: docker: resource limits of the container.
    memory_mb: int = key(256, values.positive_int)
    cpus: float = key(1.0, values.positive_float)
    pids_limit: int = key(256, values.positive_int)


def _provider_settings(raw: Any) -> dict[str, ProviderSettings]:
    """`{slug: {runtime, address, options, image, memory_mb, cpus, pids_limit}}`."""
    parsers = _parsers(ProviderSettings)
    result: dict[str, ProviderSettings] = {}
    for slug, entry in values.mapping(raw, "a mapping of provider slug to settings").items():
        try:
            values.slug(slug)
        except ValueError as exc:
            raise ValueError(f"{slug}: {exc}") from None
        given: dict[str, Any] = {}
        for name, value in values.mapping(entry if entry is not None else {}, "a mapping").items():
            parser = parsers.get(name)
            if parser is None:
                known = ", ".join(sorted(parsers))
                raise ValueError(f"{slug}.{name}: unknown key (known keys: {known})")
            try:
                given[name] = parser(value)
            except ValueError as exc:
                raise ValueError(f"{slug}.{name}: {exc}") from None
        settings = ProviderSettings(**given)
        if settings.runtime == "remote" and settings.address is None:
            raise ValueError(f"{slug}.address: required for runtime remote")
        result[slug] = settings
    return result


@dataclass(frozen=True)
class ProvidersConfig:
    """The supervisor: discovery, runtimes and watchdog (`providers` section)."""

    #: Folder of the bundled providers; None uses the checkout's `providers/`.
    bundled_dir: Path | None = key(None, values.optional(values.path))
    #: Extra folders holding provider add-ons (`<dir>/<slug>/config.yaml`).
    directories: tuple[Path, ...] = key((), values.paths, env="TIMEBASE_PROVIDERS_DIRECTORIES")
    #: Slugs to run; None runs every discovered provider (minus `disabled`).
    enabled: tuple[str, ...] | None = key(
        None, values.optional(values.slugs), env="TIMEBASE_PROVIDERS_ENABLED"
    )
    disabled: tuple[str, ...] = key((), values.slugs, env="TIMEBASE_PROVIDERS_DISABLED")
    #: Default runtime of providers without a `settings.<slug>.runtime`.
    runtime: str = key("process", values.choice(RUNTIMES), env="TIMEBASE_PROVIDERS_RUNTIME")
    settings: Mapping[str, ProviderSettings] = key_factory(dict, _provider_settings)
    #: How long one start (launch + health SERVING) may take.
    start_timeout_seconds: float = key(30.0, values.positive_float)
    #: Watchdog: seconds between health probes, and the timeout of one probe.
    probe_interval_seconds: float = key(5.0, values.positive_float)
    probe_timeout_seconds: float = key(3.0, values.positive_float)
    #: Consecutive failed probes after which a provider is restarted.
    unhealthy_threshold: int = key(3, values.positive_int)
    #: Restart backoff: base * 2**(n-1) seconds, capped at the max.
    restart_backoff_seconds: float = key(1.0, values.positive_float)
    restart_backoff_max_seconds: float = key(60.0, values.positive_float)
    #: Give up (status failed) after this many restarts within the window.
    max_restarts: int = key(5, values.positive_int)
    restart_window_seconds: float = key(300.0, values.positive_float)
    #: SIGTERM (or docker stop) grace before a provider is killed.
    stop_timeout_seconds: float = key(5.0, values.positive_float)


@dataclass(frozen=True)
class RoutingConfig:
    """The gateway's router and failover (`routing` section)."""

    #: Provider slug → priority (lower is tried first); overrides the automatic ranking.
    #: Providers not listed rank after every listed one.
    priorities: Mapping[str, int] = key_factory(dict, values.priorities)
    #: Extra attempts at the same provider after a transient error, before the next candidate.
    retries: int = key(1, values.non_negative_int)
    #: Backoff before a retry: base * 2**(attempt-1) seconds, with full jitter.
    backoff_seconds: float = key(0.2, values.positive_float)
    #: Consecutive failures that open a provider's circuit, and how long it stays open.
    circuit_failures: int = key(3, values.positive_int)
    circuit_reset_seconds: float = key(30.0, values.positive_float)
    #: How long a provider's NOT_FOUND for a symbol is remembered.
    not_found_ttl_seconds: float = key(3600.0, values.positive_float)
    #: Upper bound of one provider call when the client set no deadline.
    request_timeout_seconds: float = key(60.0, values.positive_float)


@dataclass(frozen=True)
class RestConfig:
    """The REST door (`rest` section)."""

    #: Per-client (IP) token bucket: sustained requests per second, and the burst it allows.
    rate_limit_enabled: bool = key(True, values.boolean)
    rate_limit_per_second: float = key(20.0, values.positive_float)
    rate_limit_burst: int = key(40, values.positive_int)
    #: Most bars one JSON or CSV response may hold (Arrow streams have no limit).
    max_bars: int = key(100_000, values.positive_int)


@dataclass(frozen=True)
class AuthConfig:
    """API keys (`auth` section; timebase.auth, docs/security.md)."""

    #: none | keys; None (not set) is `none` on loopback, and refused on any other address.
    mode: str | None = key(None, auth_settings.mode, env="TIMEBASE_AUTH_MODE")
    #: Keys for stateless deployments: `{name, scope, sha256 | sha256_file}` entries.
    keys: tuple[ApiKey, ...] = key((), auth_settings.config_keys)
    #: How often keys are re-read from the database (revocations take effect) and last use saved.
    reload_seconds: float = key(5.0, values.positive_float)
    #: Failed attempts one client address may make per window before it is refused (429).
    max_failures: int = key(10, values.positive_int)
    failure_window_seconds: float = key(60.0, values.positive_float)

    @property
    def enabled(self) -> bool:
        return self.mode == "keys"


@dataclass(frozen=True)
class Config:
    host: str = key("127.0.0.1", values.text, env="TIMEBASE_HOST")
    grpc_port: int = key(DEFAULT_GRPC_PORT, values.port, env="TIMEBASE_GRPC_PORT")
    flight_port: int = key(DEFAULT_FLIGHT_PORT, values.port, env="TIMEBASE_FLIGHT_PORT")
    http_port: int = key(DEFAULT_HTTP_PORT, values.port, env="TIMEBASE_HTTP_PORT")
    data_dir: Path = key(Path(".timebase"), values.path, env="TIMEBASE_DATA_DIR")
    # Sections: each holds its own keys.
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    log: LogConfig = field(default_factory=LogConfig)
    providers: ProvidersConfig = field(default_factory=ProvidersConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    rest: RestConfig = field(default_factory=RestConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)


# -- the key tables, derived from the declarations above ------------------------------------------


def _parsers(cls: type[Any]) -> dict[str, Parser]:
    return {f.name: f.metadata["parse"] for f in dataclasses.fields(cls)}


def _tables() -> tuple[dict[str, Parser], dict[str, str], frozenset[str]]:
    parsers: dict[str, Parser] = {}
    env: dict[str, str] = {}
    sections: set[str] = set()
    hints = typing.get_type_hints(Config)
    for f in dataclasses.fields(Config):
        if "parse" in f.metadata:
            entries = [(f.name, f)]
        else:
            sections.add(f.name)
            entries = [(f"{f.name}.{g.name}", g) for g in dataclasses.fields(hints[f.name])]
        for dotted, declared in entries:
            parsers[dotted] = declared.metadata["parse"]
            if declared.metadata.get("env"):
                env[declared.metadata["env"]] = dotted
    return parsers, env, frozenset(sections)


#: Dotted key → parser; environment variable → dotted key; the section names.
PARSERS, ENV_KEYS, SECTIONS = _tables()


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
    flat: dict[str, Any] = {}
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if not prefix and key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {dotted}: expected a mapping")
            flat.update(_flatten(value, source, prefix=f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _set(config: Config, key: str, raw: Any, *, source: str) -> Config:
    parser = PARSERS.get(key)
    if parser is None:
        known = ", ".join(sorted(PARSERS))
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
