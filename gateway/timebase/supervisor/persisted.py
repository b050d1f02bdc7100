"""What an admin changed at run time that must outlive a restart: the providers installed from a
Git repository and the providers disabled (`PATCH /api/providers/{slug}`).

    saved = AdminState.load(data_dir)          # blocking (file read): call it in a thread
    saved.disabled                             # frozenset of slugs
    saved.installed["acme"].path               # the add-on folder inside its clone
    saved.with_disabled("acme", True).save()   # a new snapshot, written atomically

It is a JSON file, `<data_dir>/provider-admin.json`, not a database table: the clones it points
to live in the same data directory on this machine's disk, so the record of them must live (and be
backed up, moved, deleted) with them; a table shared by several gateways on one database would
name clones that only one of them has. The file is written to a temporary name and renamed over
the old one, so a crash leaves either the old or the new state, never half of one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from timebase.sdk.errors import ConfigError

STATE_FILE = "provider-admin.json"
#: Where clones of provider repositories live, one per installed add-on: `<data_dir>/repositories`.
REPOSITORIES_DIR = "repositories"
_VERSION = 1


@dataclass(frozen=True)
class RepositoryInstall:
    """An add-on installed from a Git repository."""

    #: The repository's URL as given.
    repository: str
    #: The add-on's folder, relative to its clone (`<data_dir>/repositories/<slug>`).
    folder: str
    #: The commit checked out.
    commit: str

    def clone_dir(self, data_dir: Path, slug: str) -> Path:
        return data_dir / REPOSITORIES_DIR / slug

    def path(self, data_dir: Path, slug: str) -> Path:
        return self.clone_dir(data_dir, slug) / self.folder


@dataclass(frozen=True)
class AdminState:
    """One snapshot of the file; `with_*` return changed copies, `save` writes one."""

    file: Path
    installed: Mapping[str, RepositoryInstall] = field(default_factory=dict)
    disabled: frozenset[str] = frozenset()

    @classmethod
    def load(cls, data_dir: Path) -> AdminState:
        """The saved state (empty when there is no file). ConfigError naming the file when it
        cannot be read. Blocking."""
        file = data_dir / STATE_FILE
        if not file.is_file():
            return cls(file)
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            installed = {
                str(slug): RepositoryInstall(
                    repository=str(entry["repository"]),
                    folder=str(entry["folder"]),
                    commit=str(entry["commit"]),
                )
                for slug, entry in dict(data.get("installed", {})).items()
            }
            disabled = frozenset(str(s) for s in data.get("disabled", []))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{file}: not a provider admin state file: {exc}") from None
        return cls(file, installed, disabled)

    def save(self) -> None:
        """Write this snapshot atomically (temporary file, fsync, rename). Blocking."""
        self.file.parent.mkdir(parents=True, exist_ok=True)
        document: dict[str, Any] = {
            "version": _VERSION,
            "installed": {
                slug: dataclasses.asdict(entry) for slug, entry in sorted(self.installed.items())
            },
            "disabled": sorted(self.disabled),
        }
        tmp = self.file.with_name(self.file.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.file)

    def with_disabled(self, slug: str, disabled: bool) -> AdminState:
        names = self.disabled | {slug} if disabled else self.disabled - {slug}
        return dataclasses.replace(self, disabled=frozenset(names))

    def with_installed(self, slug: str, entry: RepositoryInstall | None) -> AdminState:
        installed = {k: v for k, v in self.installed.items() if k != slug}
        if entry is not None:
            installed[slug] = entry
        return dataclasses.replace(self, installed=installed)
