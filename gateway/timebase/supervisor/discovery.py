"""Finding provider add-ons: `<dir>/<slug>/config.yaml` in the bundled and configured folders.

Everything here does file I/O: call it from a worker thread (`asyncio.to_thread`), never on the
event loop. An invalid manifest is logged (file and key, as `load_manifest` words its errors) and
skipped; it never stops the others from loading.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from timebase.sdk.errors import ConfigError
from timebase.sdk.manifest import Manifest, load_manifest

log = logging.getLogger("timebase.supervisor.discovery")

MANIFEST_FILE = "config.yaml"


#: The `providers/` folder of this checkout (gateway/timebase/supervisor → repo root), resolved
#: once at import: resolving touches the file system, which the event loop must not wait on.
_BUNDLED_DIR = Path(__file__).resolve().parents[3] / "providers"


def bundled_providers_dir() -> Path:
    """The `providers/` folder of this checkout."""
    return _BUNDLED_DIR


@dataclass(frozen=True)
class DiscoveredProvider:
    """A provider folder with a valid manifest."""

    manifest: Manifest
    #: The provider's folder (holding config.yaml, src/main.py, requirements.txt, Dockerfile).
    path: Path

    @property
    def slug(self) -> str:
        return self.manifest.slug


@dataclass(frozen=True)
class InvalidManifest:
    """A manifest that failed validation; `error` names the file and the key."""

    path: Path
    error: str


@dataclass(frozen=True)
class Discovery:
    providers: dict[str, DiscoveredProvider]
    invalid: tuple[InvalidManifest, ...]


def discover(directories: Iterable[Path]) -> Discovery:
    """Valid manifests of every `<dir>/<slug>/config.yaml`, first folder winning on a slug clash.

    Blocking (reads files): run it in a thread.
    """
    found: dict[str, DiscoveredProvider] = {}
    invalid: list[InvalidManifest] = []
    seen: set[Path] = set()
    for directory in directories:
        root = directory.expanduser().resolve()
        if root in seen:
            continue
        seen.add(root)
        if not root.is_dir():
            log.warning(
                "provider folder %s does not exist; skipped", root, extra={"path": str(root)}
            )
            continue
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            manifest_path = folder / MANIFEST_FILE
            if not manifest_path.is_file():
                continue
            try:
                manifest = load_manifest(manifest_path)
            except ConfigError as exc:
                log.error(
                    "invalid provider manifest skipped: %s",
                    exc.message,
                    extra={"path": str(manifest_path)},
                )
                invalid.append(InvalidManifest(manifest_path, exc.message))
                continue
            if manifest.slug in found:
                log.warning(
                    "provider %s in %s ignored: the same slug was found in %s first",
                    manifest.slug,
                    folder,
                    found[manifest.slug].path,
                    extra={"provider": manifest.slug},
                )
                continue
            found[manifest.slug] = DiscoveredProvider(manifest, folder)
    return Discovery(found, tuple(invalid))
