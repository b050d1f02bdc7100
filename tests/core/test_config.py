"""Configuration: defaults, YAML, environment overrides, errors naming file/variable and key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from timebase.core.config import Config, load_config
from timebase.sdk.errors import ConfigError


def test_defaults_without_file_or_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(environ={})
    assert config == Config()
    assert (config.host, config.grpc_port, config.flight_port, config.http_port) == (
        "127.0.0.1",
        50051,
        8815,
        8080,
    )
    assert config.database.url is None
    assert config.data_dir == Path(".timebase")
    assert (config.retention.intraday_days, config.retention.daily_days) == (365, None)


def test_yaml_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "timebase.yaml"
    path.write_text(
        "grpc_port: 6000\nhttp_port: 7000\n"
        "database:\n  pool_size: 3\n  embedded_settings: {shared_buffers: 1GB}\n"
        "retention:\n  intraday_days: 30\n  daily_days: null\n"
        "log: {level: debug, format: text}\n"
    )
    config = load_config(
        path,
        environ={
            "TIMEBASE_GRPC_PORT": "6001",
            "TIMEBASE_DATABASE_URL": "postgresql://u:p@db:5432/tb",
            "TIMEBASE_DATA_DIR": "/var/lib/timebase",
        },
    )
    assert config.grpc_port == 6001  # the environment wins
    assert config.http_port == 7000
    assert config.database.pool_size == 3
    assert config.database.url == "postgresql://u:p@db:5432/tb"
    assert dict(config.database.embedded_settings) == {"shared_buffers": "1GB"}
    assert config.retention.intraday_days == 30
    assert config.log.level == "DEBUG"
    assert config.log.format == "text"
    assert config.data_dir == Path("/var/lib/timebase")


def test_timebase_config_variable_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text("http_port: 9999\n")
    assert load_config(environ={"TIMEBASE_CONFIG": str(path)}).http_port == 9999
    with pytest.raises(ConfigError, match=r"^TIMEBASE_CONFIG: no such file: .*missing.yaml$"):
        load_config(environ={"TIMEBASE_CONFIG": str(tmp_path / "missing.yaml")})


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("grpc_port: abc\n", "grpc_port: expected an integer, got 'abc'"),
        ("grpc_port: 70000\n", "grpc_port: expected a port number 0-65535, got 70000"),
        (
            "retention:\n  intraday_days: 0\n",
            "retention.intraday_days: expected a positive integer, got 0",
        ),
        (
            "log:\n  level: LOUD\n",
            "log.level: expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'",
        ),
        ("database:\n  url: mysql://x\n", "database.url: expected a postgresql:// URL"),
        ("database: 5\n", "database: expected a mapping"),
        (
            "database:\n  embedded_timescaledb: maybe\n",
            "database.embedded_timescaledb: expected one of auto, on, off, got 'maybe'",
        ),
        (
            "database:\n  embedded_settings: {fsync: off}\n",
            "database.embedded_settings: fsync: False would lose acknowledged writes when the "
            "server crashes; TimeBase keeps fsync, synchronous_commit, full_page_writes on",
        ),
        (
            "database:\n  embedded_settings: {synchronous_commit: 'off'}\n",
            "database.embedded_settings: synchronous_commit: off would lose acknowledged writes",
        ),
        (
            "database:\n  embedded_restarts: -1\n",
            "database.embedded_restarts: expected a non-negative integer, got -1",
        ),
        ("grcp_port: 1\n", "grcp_port: unknown key (known keys: "),
        ("- a\n- b\n", "expected a mapping at the top level, got list"),
        ("grpc_port: [\n", "invalid YAML"),
    ],
)
def test_invalid_yaml_values_name_file_and_key(tmp_path: Path, yaml_text: str, message: str):
    path = tmp_path / "timebase.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert err.value.message.startswith(f"{path}: ")
    assert message in err.value.message


@pytest.mark.parametrize(
    ("value", "expected"), [("on", "on"), ("off", "off"), ("auto", "auto"), ("true", "on")]
)
def test_embedded_timescaledb_reads_yaml_on_and_off(
    tmp_path: Path, value: str, expected: str
) -> None:
    """YAML reads a bare on/off as a boolean: both spellings mean the same."""
    path = tmp_path / "timebase.yaml"
    path.write_text(f"database:\n  embedded_timescaledb: {value}\n")
    assert load_config(path, environ={}).database.embedded_timescaledb == expected
    assert load_config(environ={}).database.embedded_timescaledb == "auto"
    env = {"TIMEBASE_DATABASE_EMBEDDED_TIMESCALEDB": "OFF"}
    assert load_config(environ=env).database.embedded_timescaledb == "off"


def test_invalid_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(environ={"TIMEBASE_HTTP_PORT": "eighty"})
    assert err.value.message == "TIMEBASE_HTTP_PORT: http_port: expected an integer, got 'eighty'"
    assert err.value.code == "CONFIG_ERROR"


def test_providers_section(tmp_path: Path) -> None:
    path = tmp_path / "timebase.yaml"
    path.write_text(
        "providers:\n"
        "  bundled_dir: /opt/bundled\n"
        "  directories: [/opt/extra, ./more]\n"
        "  enabled: [synthetic, legacy]\n"
        "  probe_interval_seconds: 0.5\n"
        "  max_restarts: 3\n"
        "  settings:\n"
        "    synthetic: {options: {skip_weekends: true}}\n"
        "    legacy: {runtime: remote, address: '10.0.0.5:50052'}\n"
        "    local-files: {runtime: docker, memory_mb: 200, cpus: 0.5, image: lf:1}\n"
    )
    config = load_config(
        path, environ={"TIMEBASE_PROVIDERS_DISABLED": "yahoo-finance, local-files"}
    ).providers
    assert config.bundled_dir == Path("/opt/bundled")
    assert config.directories == (Path("/opt/extra"), Path("more"))
    assert config.enabled == ("synthetic", "legacy")
    assert config.disabled == ("yahoo-finance", "local-files")
    assert config.runtime == "process"
    assert config.probe_interval_seconds == 0.5
    assert config.max_restarts == 3
    assert dict(config.settings["synthetic"].options) == {"skip_weekends": True}
    assert config.settings["synthetic"].runtime is None
    assert config.settings["legacy"].runtime == "remote"
    assert config.settings["legacy"].address == "10.0.0.5:50052"
    docker = config.settings["local-files"]
    assert (docker.runtime, docker.memory_mb, docker.cpus, docker.image) == (
        "docker",
        200,
        0.5,
        "lf:1",
    )


def test_providers_defaults_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(
        environ={
            "TIMEBASE_PROVIDERS_DIRECTORIES": f"/a{os.pathsep}/b",
            "TIMEBASE_PROVIDERS_ENABLED": "synthetic",
            "TIMEBASE_PROVIDERS_RUNTIME": "docker",
        }
    ).providers
    assert config.directories == (Path("/a"), Path("/b"))
    assert config.enabled == ("synthetic",)
    assert config.runtime == "docker"
    assert Config().providers.enabled is None
    assert Config().providers.settings == {}


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("providers: 3\n", "providers: expected a mapping"),
        (
            "providers:\n  runtime: vm\n",
            "providers.runtime: expected one of process, docker, remote",
        ),
        ("providers:\n  enabled: [Bad Slug]\n", "providers.enabled: expected a provider slug"),
        (
            "providers:\n  disabled: [symbols]\n",
            "providers.disabled: 'symbols' is a reserved word (it names a route), not a provider",
        ),
        ("symbols:\n  refresh_interval_seconds: -1\n", "symbols.refresh_interval_seconds:"),
        (
            "providers:\n  probe_interval_seconds: 0\n",
            "providers.probe_interval_seconds: expected a positive number, got 0",
        ),
        ("providers:\n  max_restarts: x\n", "providers.max_restarts: expected an integer"),
        ("providers:\n  nope: 1\n", "providers.nope: unknown key"),
        (
            "providers:\n  settings:\n    legacy: {runtime: remote}\n",
            "providers.settings: legacy.address: required for runtime remote",
        ),
        (
            "providers:\n  settings:\n    legacy: {runtime: remote, address: nowhere}\n",
            "providers.settings: legacy.address: expected host:port, got 'nowhere'",
        ),
        (
            "providers:\n  settings:\n    synthetic: {memory: 5}\n",
            "providers.settings: synthetic.memory: unknown key (known keys: ",
        ),
        (
            "providers:\n  settings:\n    synthetic: {options: [1]}\n",
            "providers.settings: synthetic.options: expected a mapping of option values",
        ),
    ],
)
def test_invalid_providers_section_names_file_and_key(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    path = tmp_path / "timebase.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert err.value.message.startswith(f"{path}: ")
    assert message in err.value.message


def test_every_environment_variable_is_documented_once() -> None:
    """The module docstring lists exactly the variables the keys declare (and TIMEBASE_CONFIG)."""
    import re

    import timebase.core.config as config_module

    documented = set(re.findall(r"TIMEBASE_[A-Z_]+", config_module.__doc__ or ""))
    assert documented == {*config_module.ENV_KEYS, "TIMEBASE_CONFIG"}
    assert config_module.ENV_KEYS["TIMEBASE_DATABASE_URL"] == "database.url"


def test_hardening_keys(tmp_path: Path) -> None:
    path = tmp_path / "timebase.yaml"
    path.write_text(
        "rest:\n"
        "  allowed_hosts: [TimeBase.internal, 'proxy.example:8443', '[::1]:8080']\n"
        "  cors_origins: ['https://Dash.example.com/']\n"
        "providers:\n"
        "  process_user: timebase\n"
        "  settings:\n"
        "    synthetic: {environment: [MY_TOKEN]}\n"
    )
    config = load_config(
        path,
        environ={
            "TIMEBASE_PROVIDERS_DOCKER_NETWORK": "my-providers",
            "TIMEBASE_REST_CORS_ORIGINS": "https://a.example, http://localhost:3000",
        },
    )
    assert config.rest.allowed_hosts == ("timebase.internal", "proxy.example:8443", "[::1]:8080")
    assert config.rest.cors_origins == ("https://a.example", "http://localhost:3000")
    assert config.providers.process_user == "timebase"
    assert config.providers.docker_network == "my-providers"
    assert config.providers.settings["synthetic"].environment == ("MY_TOKEN",)
    defaults = load_config(None, environ={})
    assert (defaults.rest.allowed_hosts, defaults.rest.cors_origins) == ((), ())
    assert defaults.providers.process_user is None
    assert defaults.providers.docker_network == "timebase-providers"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "TIMEBASE_REST_ALLOWED_HOSTS",
            "good.example,bad host",
            "TIMEBASE_REST_ALLOWED_HOSTS: rest.allowed_hosts: expected a host name, host:port "
            "or *, got 'bad host'",
        ),
        (
            "TIMEBASE_REST_CORS_ORIGINS",
            "https://a.example/app",
            "TIMEBASE_REST_CORS_ORIGINS: rest.cors_origins: expected an origin such as "
            "https://app.example.com, got 'https://a.example/app'",
        ),
        (
            "TIMEBASE_REST_CORS_ORIGINS",
            "*",
            "TIMEBASE_REST_CORS_ORIGINS: rest.cors_origins: expected an origin such as "
            "https://app.example.com, got '*'",
        ),
    ],
)
def test_invalid_hardening_keys_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, environ={variable: value})
    assert err.value.message == message


def test_the_limits_of_every_door(tmp_path: Path) -> None:
    defaults = Config()
    assert (defaults.rest.max_bars_text, defaults.rest.max_bars_arrow) == (100_000, 5_000_000)
    assert defaults.grpc.max_bars == 5_000_000
    assert (defaults.flight.max_bars, defaults.flight.max_symbols) == (5_000_000, 100)
    assert defaults.flight.endpoint_bars == 500_000
    assert (defaults.gateway.max_fetches, defaults.gateway.max_fetches_per_client) == (16, 4)
    assert defaults.gateway.fetch_queue_timeout_seconds == 10.0
    assert defaults.database.acquire_timeout_seconds == 10.0
    path = tmp_path / "timebase.yaml"
    path.write_text(
        "rest: {max_bars_text: 5000, max_bars_arrow: 60000}\n"
        "grpc: {max_bars: 70000}\n"
        "flight: {max_bars: 80000, max_symbols: 10, endpoint_bars: 9000}\n"
        "gateway: {max_fetches: 8, max_fetches_per_client: 2, fetch_queue_timeout_seconds: 2.5}\n"
        "database: {acquire_timeout_seconds: 3}\n"
    )
    config = load_config(path, environ={})
    assert (config.rest.max_bars_text, config.rest.max_bars_arrow) == (5000, 60000)
    assert config.grpc.max_bars == 70000
    assert (config.flight.max_bars, config.flight.max_symbols) == (80000, 10)
    assert config.flight.endpoint_bars == 9000
    assert (config.gateway.max_fetches, config.gateway.max_fetches_per_client) == (8, 2)
    assert config.gateway.fetch_queue_timeout_seconds == 2.5
    assert config.database.acquire_timeout_seconds == 3.0
    path.write_text("flight: {max_symbols: 0}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(err.value) == f"{path}: flight.max_symbols: expected a positive integer, got 0"


def test_embedded_supervision_keys(tmp_path: Path):
    assert load_config(environ={}).database.embedded_restarts == 5
    path = tmp_path / "timebase.yaml"
    path.write_text(
        "database:\n  embedded_restarts: 0\n  embedded_restart_window_seconds: 60\n"
        "  embedded_check_interval_seconds: 0.5\n  embedded_restart_backoff_seconds: 2\n"
        "  embedded_settings: {synchronous_commit: local, fsync: on}\n"
    )
    database = load_config(path, environ={}).database
    assert (
        database.embedded_restarts,
        database.embedded_restart_window_seconds,
        database.embedded_check_interval_seconds,
        database.embedded_restart_backoff_seconds,
    ) == (0, 60.0, 0.5, 2.0)
    assert dict(database.embedded_settings) == {"synchronous_commit": "local", "fsync": "True"}


def test_database_password_file_goes_into_the_url(tmp_path: Path) -> None:
    secret = tmp_path / "db_password"
    secret.write_text("p@ss:w/rd %\n")
    config = load_config(
        environ={
            "TIMEBASE_DATABASE_URL": "postgresql://time%2Bbase:old@db:5432/timebase?sslmode=require",
            "TIMEBASE_DATABASE_PASSWORD_FILE": str(secret),
        }
    )
    assert config.database.password_file == secret
    assert config.database.connection_url() == (
        "postgresql://time%2Bbase:p%40ss%3Aw%2Frd%20%25@db:5432/timebase?sslmode=require"
    )
    without_user = load_config(
        environ={
            "TIMEBASE_DATABASE_URL": "postgresql://db/timebase",
            "TIMEBASE_DATABASE_PASSWORD_FILE": str(secret),
        }
    )
    assert (
        without_user.database.connection_url() == "postgresql://:p%40ss%3Aw%2Frd%20%25@db/timebase"
    )
    assert load_config(environ={}).database.connection_url() is None


def test_database_password_file_errors_name_the_key(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"TIMEBASE_DATABASE_PASSWORD_FILE": str(missing)})
    assert caught.value.message == (
        f"TIMEBASE_DATABASE_PASSWORD_FILE: database.password_file: no such file: {missing}"
    )
    empty = tmp_path / "empty"
    empty.write_text("\n")
    config = load_config(
        environ={
            "TIMEBASE_DATABASE_URL": "postgresql://u@db/t",
            "TIMEBASE_DATABASE_PASSWORD_FILE": str(empty),
        }
    )
    with pytest.raises(ConfigError, match=rf"database.password_file: {empty} is empty"):
        config.database.connection_url()


def test_flight_peers_from_yaml_and_environment(tmp_path: Path) -> None:
    assert Config().flight.peers == ()
    path = tmp_path / "timebase.yaml"
    path.write_text("flight:\n  peers: [grpc+tls://gw-1:8815, 'grpc://10.0.0.2:8815']\n")
    config = load_config(path, environ={})
    assert config.flight.peers == ("grpc+tls://gw-1:8815", "grpc://10.0.0.2:8815")
    environ = {"TIMEBASE_FLIGHT_PEERS": "grpc://a:1, grpc://b:2"}
    assert load_config(path, environ=environ).flight.peers == ("grpc://a:1", "grpc://b:2")


@pytest.mark.parametrize("peer", ["gw-1:8815", "http://gw-1:8815", "grpc://gw-1", "grpc://gw:0"])
def test_a_bad_flight_peer_is_refused_naming_the_key(tmp_path: Path, peer: str) -> None:
    path = tmp_path / "timebase.yaml"
    path.write_text(f"flight:\n  peers: ['{peer}']\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(err.value) == (
        f"{path}: flight.peers: expected a Flight location such as grpc+tls://gateway-2:8815, "
        f"got {peer!r}"
    )


def test_hot_tier_keys(tmp_path: Path) -> None:
    defaults = load_config(environ={})
    assert defaults.hot_tier.enabled is True
    assert defaults.hot_tier.path(Path("/srv/tb")) == Path("/srv/tb/hot")
    assert defaults.hot_tier.max_bytes == 1024 * 1024 * 1024
    path = tmp_path / "timebase.yaml"
    path.write_text("hot_tier: {directory: /cache/hot, max_size_mb: 64}\n")
    config = load_config(path, environ={"TIMEBASE_HOT_TIER_ENABLED": "false"})
    assert config.hot_tier.enabled is False
    assert config.hot_tier.path(Path("/srv/tb")) == Path("/cache/hot")
    assert config.hot_tier.max_bytes == 64 * 1024 * 1024
    path.write_text("hot_tier: {max_size_mb: 0}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, environ={})
    assert str(err.value) == f"{path}: hot_tier.max_size_mb: expected a positive integer, got 0"
    with pytest.raises(ConfigError) as err:
        load_config(None, environ={"TIMEBASE_HOT_TIER_ENABLED": "maybe"})
    assert str(err.value) == (
        "TIMEBASE_HOT_TIER_ENABLED: hot_tier.enabled: expected true or false, got 'maybe'"
    )
