"""Parsers of the `auth` configuration section (`timebase.core.config.AuthConfig` declares it).

`auth.keys` lists keys for stateless deployments, each with the SHA-256 of the key (never the
key itself) given inline or read from a file (a Docker or Kubernetes secret):

    auth:
      mode: keys
      keys:
        - {name: ci, scope: write, sha256: 3f1c…}
        - {name: admin, scope: admin, sha256_file: /run/secrets/timebase_admin_sha256}

Errors name the entry and the key (`[1].scope: expected one of read, write, admin, got 'root'`);
the loader prefixes the file and `auth.keys`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from timebase.auth.caller import Scope
from timebase.auth.keys import ApiKey, is_sha256

#: `auth.mode`: `none` (no keys; refused on a non-loopback address unless set explicitly) or
#: `keys` (every door needs a key).
MODES = ("none", "keys")
_ENTRY_KEYS = ("name", "scope", "sha256", "sha256_file")


def mode(raw: Any) -> str:
    if not isinstance(raw, str) or raw.strip().lower() not in MODES:
        raise ValueError(f"expected one of {', '.join(MODES)}, got {raw!r}")
    return raw.strip().lower()


def scope(raw: Any) -> Scope:
    if not isinstance(raw, str) or raw.strip().lower() not in {s.value for s in Scope}:
        raise ValueError(f"expected one of {', '.join(s.value for s in Scope)}, got {raw!r}")
    return Scope(raw.strip().lower())


def config_keys(raw: Any) -> tuple[ApiKey, ...]:
    """`auth.keys`: a list of `{name, scope, sha256 | sha256_file}`."""
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise ValueError(f"expected a list of {{name, scope, sha256}} entries, got {raw!r}")
    keys: list[ApiKey] = []
    names: set[str] = set()
    hashes: set[str] = set()
    for index, entry in enumerate(raw):
        key = _entry(entry, f"[{index}]")
        if key.name in names:
            raise ValueError(f"[{index}].name: {key.name!r} is listed twice")
        if key.sha256 in hashes:
            raise ValueError(f"[{index}].sha256: the same key is listed twice")
        names.add(key.name)
        hashes.add(key.sha256)
        keys.append(key)
    return tuple(keys)


def _entry(entry: Any, where: str) -> ApiKey:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping {{name, scope, sha256}}, got {entry!r}")
    unknown = sorted(str(k) for k in entry if k not in _ENTRY_KEYS)
    if unknown:
        raise ValueError(
            f"{where}.{unknown[0]}: unknown key (known keys: {', '.join(_ENTRY_KEYS)})"
        )
    for required in ("name", "scope"):
        if required not in entry:
            raise ValueError(f"{where}.{required}: required")
    name = entry["name"]
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{where}.name: expected a non-empty string, got {name!r}")
    try:
        key_scope = scope(entry["scope"])
    except ValueError as exc:
        raise ValueError(f"{where}.scope: {exc}") from None
    digest = _digest(entry, where)
    return ApiKey(name.strip(), key_scope, digest, f"sha256:{digest[:8]}", source="config")


def _digest(entry: dict[str, Any], where: str) -> str:
    if ("sha256" in entry) == ("sha256_file" in entry):
        raise ValueError(f"{where}: give exactly one of sha256, sha256_file")
    if "sha256" in entry:
        field, value = "sha256", entry["sha256"]
    else:
        field = "sha256_file"
        path = entry["sha256_file"]
        if not isinstance(path, str) or not path.strip():
            raise ValueError(f"{where}.sha256_file: expected a file path, got {path!r}")
        try:
            value = Path(path.strip()).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"{where}.sha256_file: cannot read {path}: {exc.strerror}") from None
    text = value.strip().lower() if isinstance(value, str) else ""
    if not is_sha256(text):
        # Never echo the value: it may be a key pasted by mistake.
        raise ValueError(
            f"{where}.{field}: expected the key's SHA-256 as 64 hex characters "
            "(`timebase keys hash` prints it)"
        )
    return text
