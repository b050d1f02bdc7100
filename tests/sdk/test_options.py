"""Secret options are masked by type and by name, in repr, errors and redacted views."""

from __future__ import annotations

import pytest

from timebase.sdk.errors import ConfigError
from timebase.sdk.options import (
    SECRET_MASK,
    Options,
    is_secret_name,
    parse_option_type,
    validate_options,
)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True),
        ("APIKey", True),
        ("access_token", True),
        ("client_secret", True),
        ("db_password", True),
        ("region", False),
        ("timeout", False),
        ("cache_dir", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret
    assert parse_option_type(name, "str").secret is secret
    assert parse_option_type("x", "password").secret is True


def test_a_str_option_named_like_a_secret_is_masked() -> None:
    schema = {
        "api_key": parse_option_type("api_key", "str"),
        "region": parse_option_type("region", "str"),
    }
    options = validate_options(schema, {}, {"api_key": "sk-live-123456", "region": "eu"})
    assert options["api_key"] == "sk-live-123456"
    assert repr(options) == f"Options({{'api_key': '{SECRET_MASK}', 'region': 'eu'}})"
    assert options.secret_values() == frozenset({"sk-live-123456"})
    # Without a schema (an older manifest) the name alone decides.
    assert "s3cr3t" not in repr(Options({"AccessToken": "s3cr3t", "n": 1}))


@pytest.mark.parametrize(
    ("type_", "value", "message"),
    [
        ("url", "sk-not-a-url", f"expected a URL, got '{SECRET_MASK}'"),
        ("int", "sk-12ab", f"expected an integer, got '{SECRET_MASK}'"),
        ("int(0,10)", 123456, f"must be <= 10, got '{SECRET_MASK}'"),
        ("list(a|b)", "sk-c", f"expected one of a, b, got '{SECRET_MASK}'"),
        ("match(^x$)", "sk-y", f"'{SECRET_MASK}' does not match '^x$'"),
    ],
)
def test_errors_never_show_a_secret_value(type_: str, value: object, message: str) -> None:
    schema = {"api_token": parse_option_type("api_token", type_)}
    with pytest.raises(ConfigError) as info:
        validate_options(schema, {}, {"api_token": value}, source="opts")
    assert str(info.value) == f"opts: api_token: {message}"
    assert str(value) not in str(info.value)
