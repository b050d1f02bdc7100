"""The `api_keys` table (sql/0005_api_keys.sql): create, list, revoke, and record last use.

Blocking functions over one connection (run them with `ConnectionPool.run`); the key itself is
never stored, only its SHA-256 and display prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from timebase.auth.caller import Scope
from timebase.auth.keys import ApiKey, display_prefix, generate_key, hash_key
from timebase.sdk.errors import ErrorKind, InvalidRequestError, TimeBaseError
from timebase.store.pool import Connection

_COLUMNS = "name, scope, sha256, prefix, created_at, last_used_at, revoked_at"


class KeyNotFound(TimeBaseError):
    """No active key has that name or prefix."""

    code = "KEY_NOT_FOUND"
    kind = ErrorKind.NOT_FOUND


def _row(row: tuple[Any, ...]) -> ApiKey:
    name, scope, sha256, prefix, created, used, revoked = row
    return ApiKey(
        str(name), Scope(str(scope)), str(sha256), str(prefix), "database", created, used, revoked
    )


def create_key(conn: Connection, name: str | None, scope: Scope) -> tuple[str, ApiKey]:
    """Make a key; return it (to show once) and its record. A name already in use by an active
    key is refused (InvalidRequestError)."""
    key = generate_key()
    prefix = display_prefix(key)
    chosen = name.strip() if name and name.strip() else f"{scope.value}-{prefix[3:]}"
    with conn.cursor() as cur:
        cur.execute(
            "SELECT 1 FROM api_keys WHERE name = $1 AND revoked_at IS NULL", parameters=(chosen,)
        )
        if cur.fetchall():
            raise InvalidRequestError(
                f"name: a key named {chosen!r} already exists; revoke it first or choose "
                "another name",
                field="name",
            )
        cur.execute(
            f"INSERT INTO api_keys (name, scope, sha256, prefix) VALUES ($1, $2, $3, $4) "
            f"RETURNING {_COLUMNS}",
            parameters=(chosen, scope.value, hash_key(key), prefix),
        )
        return key, _row(cur.fetchall()[0])


def list_keys(conn: Connection, *, include_revoked: bool = True) -> list[ApiKey]:
    where = "" if include_revoked else " WHERE revoked_at IS NULL"
    with conn.cursor() as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM api_keys{where} ORDER BY created_at, id")
        return [_row(row) for row in cur.fetchall()]


def active_key(conn: Connection, sha256: str) -> ApiKey | None:
    """The active key whose SHA-256 is `sha256`, if any."""
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {_COLUMNS} FROM api_keys WHERE sha256 = $1 AND revoked_at IS NULL",
            parameters=(sha256,),
        )
        rows = cur.fetchall()
    return _row(rows[0]) if rows else None


def revoke_key(conn: Connection, name_or_prefix: str) -> list[ApiKey]:
    """Revoke the active key named `name_or_prefix`, or else the ones with that display prefix;
    KeyNotFound when none matches."""
    wanted = name_or_prefix.strip()
    with conn.cursor() as cur:
        for column in ("name", "prefix"):
            cur.execute(
                f"UPDATE api_keys SET revoked_at = now() WHERE {column} = $1 "
                f"AND revoked_at IS NULL RETURNING {_COLUMNS}",
                parameters=(wanted,),
            )
            revoked = [_row(row) for row in cur.fetchall()]
            if revoked:
                return revoked
    raise KeyNotFound(
        f"no active key is named {wanted!r} or has that prefix (see `timebase keys list`)",
        key=wanted,
    )


def record_last_use(conn: Connection, used: Mapping[str, datetime]) -> None:
    """Save when each key (by SHA-256) was last used; never moves a time backwards."""
    with conn.cursor() as cur:
        for sha256, when in used.items():
            cur.execute(
                "UPDATE api_keys SET last_used_at = $2 WHERE sha256 = $1 "
                "AND (last_used_at IS NULL OR last_used_at < $2)",
                parameters=(sha256, when),
            )
