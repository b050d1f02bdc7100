"""The `auth` configuration section: typed and checked at load, errors naming file and key."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.auth.support import ADMIN_KEY, READ_KEY
from timebase.auth import Scope
from timebase.auth.keys import hash_key
from timebase.auth.policy import check_bind
from timebase.core.config import AuthConfig, Config, load_config
from timebase.sdk.errors import ConfigError


def test_keys_inline_and_from_a_secret_file(tmp_path: Path) -> None:
    secret = tmp_path / "admin.sha256"
    secret.write_text(hash_key(ADMIN_KEY).upper() + "\n")  # as `keys hash > file` leaves it
    path = tmp_path / "timebase.yaml"
    path.write_text(
        "auth:\n  mode: keys\n  keys:\n"
        f"    - {{name: ci, scope: read, sha256: {hash_key(READ_KEY)}}}\n"
        f"    - {{name: ops, scope: ADMIN, sha256_file: {secret}}}\n"
    )
    config = load_config(path, environ={})
    assert config.auth.enabled
    assert [(k.name, k.scope, k.sha256, k.source) for k in config.auth.keys] == [
        ("ci", Scope.READ, hash_key(READ_KEY), "config"),
        ("ops", Scope.ADMIN, hash_key(ADMIN_KEY), "config"),
    ]


def test_mode_from_the_environment_and_explicit_none(tmp_path: Path) -> None:
    assert load_config(environ={"TIMEBASE_AUTH_MODE": "KEYS"}).auth.mode == "keys"
    assert load_config(environ={}).auth.mode is None  # not set: loopback only
    path = tmp_path / "timebase.yaml"
    path.write_text("auth: {mode: none}\n")
    assert load_config(path, environ={}).auth.mode == "none"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("auth: {mode: open}\n", "auth.mode: expected one of none, keys, got 'open'"),
        ("auth: {keys: {name: x}}\n", "auth.keys: expected a list of {name, scope, sha256} "
         "entries, got {'name': 'x'}"),
        ("auth: {keys: [{name: x, scope: root, sha256: " + "a" * 64 + "}]}\n",
         "auth.keys: [0].scope: expected one of read, write, admin, got 'root'"),
        ("auth: {keys: [{name: x, scope: read, sha256: tb_oops}]}\n",
         "auth.keys: [0].sha256: expected the key's SHA-256 as 64 hex characters "
         "(`timebase keys hash` prints it)"),
        ("auth: {keys: [{name: x, scope: read}]}\n",
         "auth.keys: [0]: give exactly one of sha256, sha256_file"),
        ("auth: {keys: [{scope: read, sha256: " + "a" * 64 + "}]}\n",
         "auth.keys: [0].name: required"),
        ("auth: {keys: [{name: x, scope: read, sha265: " + "a" * 64 + "}]}\n",
         "auth.keys: [0].sha265: unknown key (known keys: name, scope, sha256, sha256_file)"),
        ("auth: {keys: [{name: x, scope: read, sha256: " + "a" * 64 + "}, "
         "{name: x, scope: admin, sha256: " + "b" * 64 + "}]}\n",
         "auth.keys: [1].name: 'x' is listed twice"),
        ("auth: {keys: [{name: x, scope: read, sha256_file: /nonexistent/sha}]}\n",
         "auth.keys: [0].sha256_file: cannot read /nonexistent/sha: No such file or directory"),
        ("auth: {reload_seconds: 0}\n", "auth.reload_seconds: expected a positive number, got 0"),
    ],
)  # fmt: skip
def test_invalid_auth_section_names_file_and_key(
    tmp_path: Path, yaml_text: str, message: str
) -> None:
    path = tmp_path / "timebase.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert raised.value.message == f"{path}: {message}"


def test_invalid_mode_names_the_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(environ={"TIMEBASE_AUTH_MODE": "off"})
    assert raised.value.message == (
        "TIMEBASE_AUTH_MODE: auth.mode: expected one of none, keys, got 'off'"
    )


def test_loopback_without_keys_serves(caplog: pytest.LogCaptureFixture) -> None:
    for host in ("127.0.0.1", "localhost", "::1"):
        check_bind(Config(host=host))
    assert not caplog.records


def test_explicit_none_beyond_loopback_serves_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        check_bind(Config(host="0.0.0.0", auth=AuthConfig(mode="none")))
    assert [r.getMessage() for r in caplog.records] == [
        "auth.mode is none and TimeBase listens on 0.0.0.0: anyone who can reach it may read, "
        "write and administer it"
    ]


def test_keys_beyond_loopback_serve() -> None:
    check_bind(Config(host="0.0.0.0", auth=AuthConfig(mode="keys")))
    with pytest.raises(ConfigError) as raised:
        check_bind(Config(host="10.0.0.5"))
    assert raised.value.message.startswith("refusing to listen on 10.0.0.5 without API keys")
    assert "`timebase keys create --scope admin`" in raised.value.message
