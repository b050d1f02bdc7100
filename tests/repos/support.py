"""Local Git repositories (file://) holding provider add-ons, for the repository tests.

The add-on is a copy of the bundled synthetic provider under another slug (`acme-synth`), so it
is a real provider process with its real requirements.txt (satisfied by the gateway's packages).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

from timebase.supervisor.discovery import bundled_providers_dir

SLUG = "acme-synth"
REPOSITORY_YAML = "name: Acme providers\nurl: https://example.org/acme\nmaintainer: Acme\n"


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def write_addon(root: Path, slug: str = SLUG, *, version: str = "1.0.0") -> Path:
    """`root/slug`: the synthetic provider renamed to `slug`, at `version`."""
    folder = root / slug
    source = bundled_providers_dir() / "synthetic"
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = (folder / "config.yaml").read_text()
    manifest = manifest.replace("slug: synthetic", f"slug: {slug}")
    manifest = manifest.replace('version: "1.0.0"', f'version: "{version}"')
    (folder / "config.yaml").write_text(manifest.replace("name: Synthetic", "name: Acme Synth"))
    return folder


def make_repository(
    root: Path, *, listing: str | None = REPOSITORY_YAML, addons: tuple[str, ...] = (SLUG,)
) -> Path:
    """A Git repository at `root` with `repository.yaml` = `listing` (none when None) and the
    add-ons `addons`, committed on its default branch."""
    root.mkdir(parents=True)
    _git(root, "init", "--quiet")
    if listing is not None:
        (root / "repository.yaml").write_text(listing)
    for slug in addons:
        write_addon(root, slug)
    (root / "README.md").write_text("test repository\n")
    _git(root, "add", "-A")
    _git(root, "commit", "--quiet", "-m", "first")
    return root


def commit(root: Path, message: str) -> str:
    """Commit every change in `root`; the new commit."""
    _git(root, "add", "-A")
    _git(root, "commit", "--quiet", "-m", message)
    return _git(root, "rev-parse", "HEAD")


def head(root: Path) -> str:
    return _git(root, "rev-parse", "HEAD")


async def repository(root: Path, **kw: object) -> str:
    """`make_repository` off the event loop; its file:// URL."""

    def make() -> str:
        return make_repository(root, **kw).resolve().as_uri()  # type: ignore[arg-type]

    return await asyncio.to_thread(make)
