"""TimeBase configuration: typed, validated at load, errors naming the file or variable and key.

Sources, later ones winning: built-in defaults, `timebase.yaml` (path from TIMEBASE_CONFIG, else
`./timebase.yaml` when it exists), then environment variables:

    TIMEBASE_DATABASE_URL   database.url        (unset: start the embedded PostgreSQL)
    TIMEBASE_DATABASE_PASSWORD_FILE database.password_file (the password of database.url's user)
    TIMEBASE_DATA_DIR       data_dir            (default ./.timebase)
    TIMEBASE_DATABASE_EMBEDDED_TIMESCALEDB  database.embedded_timescaledb  (auto | on | off)
    TIMEBASE_DATABASE_SCALED_PRICES  database.scaled_prices  (false while pre-0018 gateways serve)
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
    TIMEBASE_PROVIDERS_PROCESS_USER providers.process_user (when root; default timebase or nobody)
    TIMEBASE_PROVIDERS_DOCKER_NETWORK  providers.docker_network  (default timebase-providers)
    TIMEBASE_TLS_CERT_FILE          tls.cert_file          (PEM certificate chain; TLS on every door)
    TIMEBASE_TLS_KEY_FILE           tls.key_file           (PEM private key of tls.cert_file)
    TIMEBASE_TLS_CLIENT_CA_FILE     tls.client_ca_file     (PEM CA(s): client certificates required)
    TIMEBASE_AUTH_MODE              auth.mode              (none | keys; see docs/security.md)

The `routing` section tunes the gateway's router (priorities override its ranking) and failover:

    routing:
      priorities: {local-files: 1, yahoo-finance: 2}
      retries: 1
      circuit_failures: 3
      circuit_reset_seconds: 30

The `rest` section tunes the REST door (timebase.rest): per-client rate limiting (a token bucket
per client IP refilled at `rate_limit_per_second`, holding at most `rate_limit_burst` requests)
and the most bars one response may hold (JSON and CSV, Arrow):

    rest:
      rate_limit_enabled: true
      rate_limit_per_second: 20
      rate_limit_burst: 40
      max_bars_text: 100000
      max_bars_arrow: 5000000
      allowed_hosts: [timebase.internal]       # besides the bind address and loopback names
      cors_origins: [https://app.example.com]  # CORS off unless set

    TIMEBASE_REST_ALLOWED_HOSTS  rest.allowed_hosts  (comma-separated)
    TIMEBASE_REST_CORS_ORIGINS   rest.cors_origins   (comma-separated)

Every door refuses a request whose answer would hold more bars than its limit, estimated from
range × interval before any work (`grpc.max_bars`, `flight.max_bars` per symbol and
`flight.max_symbols` per query); the `gateway` section bounds concurrent provider fetches:

    grpc: {max_bars: 5000000}
    flight: {max_bars: 5000000, max_symbols: 100, endpoint_bars: 500000}
    gateway: {max_fetches: 16, max_fetches_per_client: 4, fetch_queue_timeout_seconds: 10}

`flight.peers` lists the Flight locations of gateways on the same database; GetFlightInfo hands
its endpoints to them in turn, so one query is read in parallel (docs/scaling.md):

    flight: {peers: [grpc+tls://gateway-1:8815, grpc+tls://gateway-2:8815]}
    TIMEBASE_FLIGHT_PEERS   flight.peers        (comma-separated)

The `tls` section turns TLS on for gRPC, Arrow Flight and REST (docs/security.md#tls): both files
or neither, checked at load (readable, a certificate chain and its unencrypted key); with a client
CA, every connection must present a certificate it signed:

    tls:
      cert_file: /etc/timebase/server.pem
      key_file: /etc/timebase/server.key
      client_ca_file: /etc/timebase/clients-ca.pem

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
        my-addon: {environment: [MY_ADDON_TOKEN]}   # passed from the gateway's environment

The `hot_tier` section keeps recently read series ranges as memory-mapped Arrow files under
`directory` (default `<data_dir>/hot`, one directory per gateway), at most `max_size_mb` of them
(least recently used evicted); every read checks the series' version first (docs/hot-tier.md):

    hot_tier: {enabled: true, directory: /var/cache/timebase/hot, max_size_mb: 1024}

    TIMEBASE_HOT_TIER_ENABLED       hot_tier.enabled
    TIMEBASE_HOT_TIER_DIR           hot_tier.directory
    TIMEBASE_HOT_TIER_MAX_SIZE_MB   hot_tier.max_size_mb

The `auth` section turns API keys on (timebase.auth, docs/security.md); keys live in the database
(`timebase keys create`) and, for stateless deployments, in `auth.keys` as SHA-256 hashes:

    auth:
      mode: keys
      keys:
        - {name: ci, scope: write, sha256: 3f1c…}
        - {name: admin, scope: admin, sha256_file: /run/secrets/timebase_admin_sha256}

`watchlists` keeps symbols fresh without anyone asking (timebase.core.watchlists; a background
job backfills each one, then refreshes it on its schedule, within provider quotas):

    watchlists:
      majors: {symbols: [AAPL, MSFT], intervals: [1d, 1h], lookback_days: 365, schedule: every 1h}
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
from timebase.core import tls as tls_files
from timebase.core import watchlists as watchlist_values
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
    #: How long a request waits for a free connection before a 503 (DATABASE_BUSY).
    acquire_timeout_seconds: float = key(10.0, values.positive_float)
    #: Supervision of the embedded server (timebase.store.embedded_supervisor): a crashed server
    #: is restarted at most `embedded_restarts` times within `embedded_restart_window_seconds`
    #: (0: never); one crash more and `timebase serve` exits with code 3.
    embedded_restarts: int = key(5, values.non_negative_int)
    embedded_restart_window_seconds: float = key(300.0, values.positive_float)
    #: How often the server's postmaster is checked, and the backoff before the first restart
    #: (doubled for each further one within the window, at most 30 s).
    embedded_check_interval_seconds: float = key(1.0, values.positive_float)
    embedded_restart_backoff_seconds: float = key(0.5, values.positive_float)
    #: A file holding the password of `url`'s user (a Docker or Kubernetes secret): it replaces
    #: any password in `url`, so the URL itself holds none.
    password_file: Path | None = key(
        None, values.optional(values.readable_file), env="TIMEBASE_DATABASE_PASSWORD_FILE"
    )

    #: Write prices as scaled integers where exact (migration 0018; ~3x smaller compressed on
    #: TimescaleDB). Off: every price as float8, readable by gateways from before 0018; keep it
    #: off during a rolling upgrade from such a version (docs/upgrades.md).
    scaled_prices: bool = key(True, values.boolean, env="TIMEBASE_DATABASE_SCALED_PRICES")

    def connection_url(self) -> str | None:
        """`url` with the password of `password_file` (read now), or `url` as it is."""
        if self.password_file is None or self.url is None:
            return self.url
        password = self.password_file.read_text().strip()
        if not password:
            raise ConfigError(f"database.password_file: {self.password_file} is empty")
        return values.with_password(self.url, password)


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
    #: process: names of gateway environment variables this provider gets too (it gets an
    #: allow-list only: PATH, locale, proxies, …; timebase.supervisor.privileges).
    environment: tuple[str, ...] = key((), values.env_names)


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
    #: process: the user providers run as when TimeBase is root; None: `timebase` if it exists,
    #: else `nobody` (timebase.supervisor.privileges).
    process_user: str | None = key(
        None, values.optional(values.text), env="TIMEBASE_PROVIDERS_PROCESS_USER"
    )
    #: docker: the network of the provider containers (a bridge, created when missing).
    docker_network: str = key(
        "timebase-providers", values.text, env="TIMEBASE_PROVIDERS_DOCKER_NETWORK"
    )


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
    #: Most bars one JSON or CSV response may hold (estimated before any work).
    max_bars_text: int = key(100_000, values.positive_int)
    #: Most bars one Arrow response may hold.
    max_bars_arrow: int = key(5_000_000, values.positive_int)
    #: Host header values served besides the bind address, localhost, 127.0.0.1 and [::1]
    #: (DNS rebinding): `name` (any port), `name:port`, or `*` (any host; behind a proxy).
    allowed_hosts: tuple[str, ...] = key((), values.host_names, env="TIMEBASE_REST_ALLOWED_HOSTS")
    #: Browser origins allowed cross-origin (CORS); empty: CORS off.
    cors_origins: tuple[str, ...] = key((), values.origins, env="TIMEBASE_REST_CORS_ORIGINS")


@dataclass(frozen=True)
class TlsConfig:
    """TLS of the doors (`tls` section): on when `cert_file` and `key_file` are set."""

    #: PEM certificate chain of the server (the leaf first).
    cert_file: Path | None = key(
        None, values.optional(values.readable_file), env="TIMEBASE_TLS_CERT_FILE"
    )
    #: PEM private key of `cert_file` (unencrypted).
    key_file: Path | None = key(
        None, values.optional(values.readable_file), env="TIMEBASE_TLS_KEY_FILE"
    )
    #: PEM CA certificate(s): when set, every client must present a certificate they signed.
    client_ca_file: Path | None = key(
        None, values.optional(values.readable_file), env="TIMEBASE_TLS_CLIENT_CA_FILE"
    )

    @property
    def enabled(self) -> bool:
        return self.cert_file is not None and self.key_file is not None


def _check_tls(tls: TlsConfig, origins: Mapping[str, str]) -> None:
    """Both files or neither; a client CA only with them; the files hold what they should."""

    def fail(key: str, message: str, given: str) -> None:
        raise ConfigError(f"{origins.get(given, 'defaults')}: {key}: {message}")

    if tls.cert_file is not None and tls.key_file is None:
        fail("tls.key_file", "required when tls.cert_file is set", "tls.cert_file")
    if tls.key_file is not None and tls.cert_file is None:
        fail("tls.cert_file", "required when tls.key_file is set", "tls.key_file")
    if tls.client_ca_file is not None and tls.cert_file is None:
        fail("tls.cert_file", "required when tls.client_ca_file is set", "tls.client_ca_file")
    if tls.cert_file is not None and tls.key_file is not None:
        try:
            tls_files.server_ssl_context(tls.cert_file, tls.key_file, tls.client_ca_file)
        except tls_files.TlsFileError as exc:
            fail(f"tls.{exc.key}", exc.reason, f"tls.{exc.key}")


@dataclass(frozen=True)
class GrpcLimits:
    """The gRPC door's limits (`grpc` section)."""

    #: Most bars one GetBars / GetHistoricalData / GetHistoricalBars answer may hold.
    max_bars: int = key(5_000_000, values.positive_int)


@dataclass(frozen=True)
class FlightLimits:
    """The Flight door's limits (`flight` section)."""

    #: Most bars per symbol of one query.
    max_bars: int = key(5_000_000, values.positive_int)
    #: Most symbols one query may name.
    max_symbols: int = key(100, values.positive_int)
    #: Flight locations of the gateways (this one included, if it should serve too) that
    #: GetFlightInfo hands its endpoints to, in turn: one query is read in parallel from several
    #: processes on the same database. Empty: every endpoint is read from this gateway.
    peers: tuple[str, ...] = key((), values.flight_locations, env="TIMEBASE_FLIGHT_PEERS")
    #: A symbol's range that may hold more bars than this is split by time into several
    #: endpoints (at most 8), each read on its own connection.
    endpoint_bars: int = key(500_000, values.positive_int)


@dataclass(frozen=True)
class GatewayLimits:
    """Concurrent provider fetches (`gateway` section): bounded overall and per client; a
    request over the bound waits up to `fetch_queue_timeout_seconds`, then gets a 503."""

    max_fetches: int = key(16, values.positive_int)
    max_fetches_per_client: int = key(4, values.positive_int)
    fetch_queue_timeout_seconds: float = key(10.0, values.positive_float)


@dataclass(frozen=True)
class SymbolsConfig:
    """The symbol catalogue (`symbols` section): every provider's GetSymbols is asked again
    every `refresh_interval_seconds` (0: only at start, when a provider (re)starts, and on
    demand), each call bounded by `refresh_timeout_seconds`."""

    refresh_interval_seconds: int = key(86_400, values.non_negative_int)
    refresh_timeout_seconds: float = key(30.0, values.positive_float)


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
class HotTierConfig:
    """The hot tier (`hot_tier` section; timebase.store.hot_tier, docs/hot-tier.md): recently
    read series ranges kept as memory-mapped Arrow files, validated by series version."""

    enabled: bool = key(True, values.boolean, env="TIMEBASE_HOT_TIER_ENABLED")
    #: Where the segment files go (None: `<data_dir>/hot`); cleared at start: one per gateway.
    directory: Path | None = key(None, values.optional(values.path), env="TIMEBASE_HOT_TIER_DIR")
    #: Most megabytes of segment files kept (least recently used evicted first).
    max_size_mb: int = key(1024, values.positive_int, env="TIMEBASE_HOT_TIER_MAX_SIZE_MB")

    def path(self, data_dir: Path) -> Path:
        return self.directory if self.directory is not None else data_dir / "hot"

    @property
    def max_bytes(self) -> int:
        return self.max_size_mb * 1024 * 1024


@dataclass(frozen=True)
class Config:
    host: str = key("127.0.0.1", values.text, env="TIMEBASE_HOST")
    grpc_port: int = key(DEFAULT_GRPC_PORT, values.port, env="TIMEBASE_GRPC_PORT")
    flight_port: int = key(DEFAULT_FLIGHT_PORT, values.port, env="TIMEBASE_FLIGHT_PORT")
    http_port: int = key(DEFAULT_HTTP_PORT, values.port, env="TIMEBASE_HTTP_PORT")
    data_dir: Path = key(Path(".timebase"), values.path, env="TIMEBASE_DATA_DIR")
    #: Symbols kept fresh in the background (timebase.core.watchlists, timebase.gateway.watchlists).
    watchlists: tuple[watchlist_values.Watchlist, ...] = key((), watchlist_values.watchlists)
    # Sections: each holds its own keys.
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    log: LogConfig = field(default_factory=LogConfig)
    providers: ProvidersConfig = field(default_factory=ProvidersConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    rest: RestConfig = field(default_factory=RestConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    grpc: GrpcLimits = field(default_factory=GrpcLimits)
    flight: FlightLimits = field(default_factory=FlightLimits)
    gateway: GatewayLimits = field(default_factory=GatewayLimits)
    symbols: SymbolsConfig = field(default_factory=SymbolsConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    hot_tier: HotTierConfig = field(default_factory=HotTierConfig)


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
    #: Dotted key → where its value came from (the file or the variable), for checks across keys.
    origins = dict.fromkeys(_flatten(values, source), source)

    for var, key in ENV_KEYS.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        config = _set(config, key, raw, source=var)
        origins[key] = var
    _check_tls(config.tls, origins)
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
