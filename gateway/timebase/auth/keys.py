"""API keys: how they are made, hashed, shown and carried (the `Authorization: Bearer` header).

A key is `tb_` followed by 43 URL-safe characters (32 random bytes). Only its SHA-256 (hex) is
kept, in the `api_keys` table or in `auth.keys`; keys are high-entropy random tokens, so a plain
SHA-256 is enough (no slow password hash needed). The first characters (`display_prefix`) tell
keys apart in listings and logs without revealing them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from timebase.auth.caller import Scope

KEY_PREFIX = "tb_"
#: Characters of a key shown in listings (`tb_` and 8 more).
DISPLAY_LENGTH = 11
#: The longest value accepted as a key (anything longer is refused before hashing).
MAX_KEY_LENGTH = 512
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BEARER = re.compile(r"Bearer[ \t]+(\S+)[ \t]*", re.IGNORECASE)


def generate_key() -> str:
    """A new random key (shown once to its owner, never stored)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The SHA-256 of `key`, lower-case hex: what is stored and compared."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    """The start of `key` that listings show (`tb_AbCdEfGh`)."""
    return key[:DISPLAY_LENGTH]


def is_sha256(value: str) -> bool:
    return _SHA256.fullmatch(value) is not None


def bearer_token(header: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` value; None when absent or not Bearer."""
    if not header:
        return None
    match = _BEARER.fullmatch(header.strip())
    return match.group(1) if match else None


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as TimeBase knows it: never the key itself, only its hash.

    `source` is `database` (made by `timebase keys create`) or `config` (`auth.keys`).
    """

    name: str
    scope: Scope
    sha256: str
    prefix: str
    source: str = "database"
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
