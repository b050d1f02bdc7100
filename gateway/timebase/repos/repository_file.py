"""`repository.yaml`: the listing at the root of a provider repository (Home Assistant style).

    name: Acme providers                 # required
    url: https://example.org/acme        # optional
    maintainer: Acme <ops@example.org>   # optional
    addons: [acme, tools/acme-extra]     # optional: the add-on folders (default: every
                                         # top-level folder holding a config.yaml)

Each add-on folder is an ordinary provider folder (config.yaml, src/main.py, requirements.txt,
Dockerfile). Errors are ConfigErrors naming `repository.yaml`, the key, or the add-on's manifest
relative to the repository root. Everything here reads files: call it in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from timebase.sdk.errors import ConfigError
from timebase.sdk.manifest import load_manifest
from timebase.supervisor.discovery import MANIFEST_FILE, DiscoveredProvider

REPOSITORY_FILE = "repository.yaml"
#: More add-ons than this in one repository is refused (checked before any manifest is read).
MAX_ADDONS = 100


@dataclass(frozen=True)
class Repository:
    name: str
    url: str | None
    maintainer: str | None
    #: Add-ons by slug; `folder` of each is relative to the repository root.
    addons: dict[str, DiscoveredProvider]
    folders: dict[str, str]


def load_repository(root: Path) -> Repository:
    """The listing of the repository checked out at `root`; ConfigError saying what is wrong."""
    file = root / REPOSITORY_FILE
    if not file.is_file():
        raise ConfigError(
            f"{REPOSITORY_FILE}: not found at the repository's root (a provider repository "
            "lists its add-ons there)"
        )
    try:
        data: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{REPOSITORY_FILE}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{REPOSITORY_FILE}: expected a mapping with name (and addons)")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{REPOSITORY_FILE}: name: required: a non-empty string")
    for key in ("url", "maintainer"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ConfigError(f"{REPOSITORY_FILE}: {key}: expected a string")
    folders = _folders(root, data.get("addons"))
    addons: dict[str, DiscoveredProvider] = {}
    by_slug: dict[str, str] = {}
    for folder in folders:
        path = root / folder
        try:
            manifest = load_manifest(path / MANIFEST_FILE)
        except ConfigError as exc:
            raise ConfigError(exc.message.replace(f"{root}/", "")) from None
        if manifest.slug in addons:
            raise ConfigError(
                f"{REPOSITORY_FILE}: add-ons {by_slug[manifest.slug]!r} and {folder!r} have "
                f"the same slug {manifest.slug!r}"
            )
        addons[manifest.slug] = DiscoveredProvider(manifest, path)
        by_slug[manifest.slug] = folder
    return Repository(name.strip(), data.get("url"), data.get("maintainer"), addons, by_slug)


def _folders(root: Path, listed: Any) -> list[str]:
    """The add-on folders: as listed (each checked), or every top-level one with a manifest."""
    if listed is None:
        found = sorted(
            p.name
            for p in root.iterdir()
            if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST_FILE).is_file()
        )
        if not found:
            raise ConfigError(
                f"{REPOSITORY_FILE}: the repository holds no add-on (no folder with a "
                f"{MANIFEST_FILE})"
            )
        return found[:MAX_ADDONS]
    if not isinstance(listed, list) or not listed:
        raise ConfigError(f"{REPOSITORY_FILE}: addons: expected a non-empty list of folders")
    if len(listed) > MAX_ADDONS:
        raise ConfigError(f"{REPOSITORY_FILE}: addons: at most {MAX_ADDONS} add-ons")
    folders: list[str] = []
    for i, item in enumerate(listed):
        where = f"{REPOSITORY_FILE}: addons[{i}]"
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"{where}: expected a folder name")
        pure = PurePosixPath(item.strip())
        if pure.is_absolute() or ".." in pure.parts or "\\" in item:
            raise ConfigError(f"{where}: {item!r} must be a folder inside the repository")
        path = (root / pure).resolve()
        if not path.is_relative_to(root.resolve()) or not (path / MANIFEST_FILE).is_file():
            raise ConfigError(f"{where}: {item!r} is not a folder with a {MANIFEST_FILE}")
        folders.append(str(pure))
    return folders
