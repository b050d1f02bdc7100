"""`timebase keys`: create, list and revoke API keys, and hash a key for `auth.keys`.

    timebase keys create --scope admin [--name NAME]   # the new key alone on the last line, once
    timebase keys list                                 # names, scopes, prefixes, last use
    timebase keys revoke NAME|PREFIX
    timebase keys hash < key.txt                       # the SHA-256 for auth.keys / a secret

`create`, `list` and `revoke` talk to the database directly, with the configuration of
`timebase serve` (database URL, or the data directory's embedded PostgreSQL: started for the
command, or the running server's when `timebase serve` holds it), so the first admin key needs
no key, just as `createuser` needs no login. Migrations are applied first, as `serve` does.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from timebase.audit import AuditAction, AuditLog
from timebase.auth import Caller, Scope, keystore
from timebase.auth.keys import ApiKey, hash_key
from timebase.cli.key_database import key_database
from timebase.core.config import Config
from timebase.sdk.errors import TimeBaseError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


def add_command(commands: Any) -> None:
    keys = commands.add_parser("keys", help="manage API keys (create, list, revoke, hash)")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a key (printed once, on the last line)")
    create.add_argument(
        "--scope", required=True, choices=[s.value for s in Scope], help="what the key may do"
    )
    create.add_argument("--name", help="a name to tell it apart (default: SCOPE-PREFIX)")
    actions.add_parser("list", help="list the keys: names, scopes, prefixes, last use")
    revoke = actions.add_parser("revoke", help="revoke a key by name or prefix")
    revoke.add_argument("key", metavar="NAME|PREFIX")
    actions.add_parser("hash", help="read a key on stdin, print its SHA-256 (for auth.keys)")


def run(args: argparse.Namespace, config: Config) -> int:
    """Run a `timebase keys` action; errors are one line on stderr."""
    try:
        if args.keys_command == "hash":
            return _hash()
        return asyncio.run(_run(args, config))
    except TimeBaseError as exc:
        print(f"timebase: {exc.message}", file=sys.stderr, flush=True)
        return EXIT_USAGE if exc.code.startswith("INVALID_") else EXIT_ERROR
    except KeyboardInterrupt:
        return 130


def _hash() -> int:
    key = sys.stdin.readline().strip()
    if not key:
        print("timebase: keys hash: expected a key on stdin", file=sys.stderr)
        return EXIT_USAGE
    print(hash_key(key))
    return EXIT_OK


async def _run(args: argparse.Namespace, config: Config) -> int:
    async with key_database(config) as store:
        pool = store.pool
        # Managing keys is an admin action: audited like the doors' (door "cli").
        audit, caller = AuditLog(store), Caller.local("cli")
        if args.keys_command == "create":
            scope = Scope(args.scope)
            try:
                key, record = await pool.run(
                    lambda conn: keystore.create_key(conn, args.name, scope),
                    doing="creating a key",
                )
            except Exception as exc:
                await audit.record(caller, AuditAction.KEY_CREATE, error=exc, detail=_named(args))
                raise
            await audit.record(caller, AuditAction.KEY_CREATE, rows=1, detail=_detail(record))
            print(f"Created the {record.scope.value} key {record.name!r} ({record.prefix}…).")
            print("Store it now: it is shown only once. Clients send it as")
            print("'Authorization: Bearer <key>' (or TIMEBASE_API_KEY for the CLI).")
            print(key, flush=True)
        elif args.keys_command == "list":
            records = await pool.run(keystore.list_keys, doing="listing keys")
            _print_keys(records)
        elif args.keys_command == "revoke":
            try:
                revoked = await pool.run(
                    lambda conn: keystore.revoke_key(conn, args.key), doing="revoking a key"
                )
            except Exception as exc:
                await audit.record(
                    caller, AuditAction.KEY_REVOKE, error=exc, detail={"key": args.key}
                )
                raise
            for record in revoked:
                await audit.record(caller, AuditAction.KEY_REVOKE, rows=1, detail=_detail(record))
                print(f"Revoked the key {record.name!r} ({record.prefix}…).")
            if not config.auth.enabled:
                return EXIT_OK
            print(
                f"A running TimeBase refuses it within {config.auth.reload_seconds:g} s "
                "(auth.reload_seconds)."
            )
    return EXIT_OK


def _detail(record: ApiKey) -> dict[str, str]:
    """What the audit keeps of a key: never the key, only its name, scope and prefix."""
    return {"name": record.name, "scope": record.scope.value, "prefix": record.prefix}


def _named(args: argparse.Namespace) -> dict[str, str]:
    return {"name": args.name or "", "scope": args.scope}


def _print_keys(records: list[ApiKey]) -> None:
    if not records:
        print("No keys yet: create one with `timebase keys create --scope admin`.")
        return
    rows = [("NAME", "SCOPE", "PREFIX", "CREATED", "LAST USED", "STATUS")]
    for r in records:
        status = f"revoked {_when(r.revoked_at)}" if r.revoked else "active"
        row = (r.name, r.scope.value, r.prefix, _when(r.created_at), _when(r.last_used_at), status)
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else "never"
