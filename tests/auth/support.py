"""Keys the auth tests use: one per scope, listed in `auth.keys` (by hash, as an operator would)."""

from __future__ import annotations

from typing import Any

from timebase.auth import settings
from timebase.auth.keys import hash_key
from timebase.core.config import AuthConfig

READ_KEY = "tb_test-read-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
WRITE_KEY = "tb_test-write-key-bbbbbbbbbbbbbbbbbbbbbbbbbbbb"
ADMIN_KEY = "tb_test-admin-key-cccccccccccccccccccccccccccc"
WRONG_KEY = "tb_not-a-key-of-this-timebase-dddddddddddddddd"

MISSING = (
    "missing API key: send the header 'Authorization: Bearer <key>' (create a key with "
    "`timebase keys create --scope read`)"
)
INVALID = "invalid API key: it is not a key of this TimeBase, or it was revoked"


def denied(action: str, needed: str, name: str, has: str) -> str:
    return f"{action} needs the '{needed}' scope; key '{name}' has '{has}'"


def config_entries() -> list[dict[str, Any]]:
    return [
        {"name": "reader", "scope": "read", "sha256": hash_key(READ_KEY)},
        {"name": "writer", "scope": "write", "sha256": hash_key(WRITE_KEY)},
        {"name": "admin", "scope": "admin", "sha256": hash_key(ADMIN_KEY)},
    ]


def auth_config(**overrides: Any) -> AuthConfig:
    """`auth.mode: keys` with the three test keys (a generous failure limit: every test client
    is 127.0.0.1, and the limit has tests of its own)."""
    values: dict[str, Any] = {
        "mode": "keys",
        "keys": settings.config_keys(config_entries()),
        "max_failures": 1000,
    }
    values.update(overrides)
    return AuthConfig(**values)


def bearer(key: str) -> str:
    return f"Bearer {key}"
