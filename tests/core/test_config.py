"""Configuration: defaults, YAML, environment overrides, errors naming file/variable and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from timebase.core.config import Config, load_config
from timebase.core.errors import ConfigError


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


def test_invalid_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError) as err:
        load_config(environ={"TIMEBASE_HTTP_PORT": "eighty"})
    assert err.value.message == "TIMEBASE_HTTP_PORT: http_port: expected an integer, got 'eighty'"
    assert err.value.code == "CONFIG_ERROR"
