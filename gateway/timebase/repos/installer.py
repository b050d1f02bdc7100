"""Install, update and uninstall add-ons from Git repositories (see the package docstring).

A repository is cloned (shallow) into a staging folder under `<data_dir>/repositories`, its
listing and the chosen add-on's manifest checked, the slug checked against every provider known
here; only then is the clone moved to `<data_dir>/repositories/<slug>`, the install saved and the
provider started. Anything wrong before that point removes the staging folder and changes
nothing: an unreachable repository, no or an invalid `repository.yaml` or manifest, an unknown
add-on are `InvalidRequestError`s on `repository` or `slug` (400); a slug already in use is
`ProviderAlreadyInstalled` (409). One admin operation runs at a time.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from timebase.gateway.bar_request import check_provider
from timebase.repos.git import GitError, check_url, run_git, shown_url
from timebase.repos.repository_file import Repository, load_repository
from timebase.sdk.errors import ConfigError, InvalidRequestError, ProviderAlreadyInstalled
from timebase.supervisor.discovery import DiscoveredProvider, discover
from timebase.supervisor.persisted import REPOSITORIES_DIR, RepositoryInstall
from timebase.supervisor.state import ProviderState
from timebase.supervisor.supervisor import Supervisor


class RepositoryInstaller:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.data_dir = supervisor.config.data_dir
        self.root = self.data_dir / REPOSITORIES_DIR
        self._lock = asyncio.Lock()

    async def install(self, url: str, slug: str | None = None) -> ProviderState:
        """Clone `url`, pick the add-on `slug` (optional when it lists one), start it."""
        url = check_url(url)
        wanted = check_provider(slug, "slug") if slug else None
        async with self._lock:
            staging = await asyncio.to_thread(self._staging)
            try:
                clone = staging / "clone"
                await _git(url, "clone", "--depth", "1", "--quiet", "--", url, str(clone))
                repository = await _listing(url, clone)
                found = _pick(repository, wanted)
                folder = repository.folders[found.slug]
                await self._installable(found.slug)
                commit = await _git(url, "rev-parse", "HEAD", cwd=clone)
                dest = self.root / found.slug
                await asyncio.to_thread(_move, clone, dest)
                origin = RepositoryInstall(url, folder, commit)
                installed = DiscoveredProvider(found.manifest, dest / folder)
                try:
                    return await self.supervisor.install_found(installed, origin)
                except BaseException:
                    if found.slug not in self.supervisor.saved.installed:
                        await asyncio.to_thread(shutil.rmtree, dest, True)
                    raise
            finally:
                await asyncio.to_thread(shutil.rmtree, staging, True)

    async def update(self, slug: str) -> ProviderState:
        """Pull the add-on's repository, then restart it. An update that breaks the listing or
        the manifest is rolled back (the provider keeps running the old commit)."""
        checked = check_provider(slug, "slug") or ""
        async with self._lock:
            origin = self._origin(checked)
            clone = origin.clone_dir(self.data_dir, checked)
            url = origin.repository
            await _git(url, "fetch", "--depth", "1", "--quiet", "origin", "HEAD", cwd=clone)
            await _git(url, "reset", "--hard", "--quiet", "FETCH_HEAD", cwd=clone)
            try:
                repository = await _listing(url, clone)
                found = _pick(repository, checked)
            except BaseException:
                await _git(url, "reset", "--hard", "--quiet", origin.commit, cwd=clone)
                raise
            commit = await _git(url, "rev-parse", "HEAD", cwd=clone)
            updated = RepositoryInstall(url, repository.folders[checked], commit)
            return await self.supervisor.replace(found, updated)

    async def uninstall(self, slug: str) -> None:
        """Stop and forget `slug`; an add-on from a repository also loses its clone and venv."""
        async with self._lock:
            origin = self.supervisor.saved.installed.get(slug)
            await self.supervisor.remove(slug)
            if origin is not None:
                clone = origin.clone_dir(self.data_dir, slug)
                venv = self.data_dir / "venvs" / slug
                await asyncio.to_thread(shutil.rmtree, clone, True)
                await asyncio.to_thread(shutil.rmtree, venv, True)

    def _origin(self, slug: str) -> RepositoryInstall:
        origin = self.supervisor.saved.installed.get(slug)
        if origin is not None:
            return origin
        self.supervisor.get(slug)  # ProviderNotFoundError for an unknown slug
        raise InvalidRequestError(
            f"slug: provider {slug!r} was not installed from a repository (nothing to update)",
            field="slug",
        )

    async def _installable(self, slug: str) -> None:
        """The slug is free: not supervised, saved, nor in a providers directory (looked at
        now: a folder added since start-up counts)."""
        dirs = self.supervisor.provider_dirs()
        on_disk = await asyncio.to_thread(lambda: discover(dirs).providers)
        if slug in on_disk:
            raise ProviderAlreadyInstalled(
                f"provider {slug!r} is already installed (remove it first)", provider=slug
            )
        try:
            self.supervisor.check_installable(slug)
        except ProviderAlreadyInstalled:
            raise
        except ConfigError as exc:
            raise InvalidRequestError(f"slug: {exc.message}", field="slug") from None

    def _staging(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))


async def _git(url: str, *args: str, cwd: Path | None = None) -> str:
    try:
        return await run_git(*args, cwd=cwd)
    except GitError as exc:
        raise InvalidRequestError(
            f"repository: {shown_url(url)}: git {args[0]} failed: {exc}", field="repository"
        ) from None


async def _listing(url: str, clone: Path) -> Repository:
    try:
        return await asyncio.to_thread(load_repository, clone)
    except ConfigError as exc:
        raise InvalidRequestError(
            f"repository: {shown_url(url)}: {exc.message}", field="repository"
        ) from None


def _pick(repository: Repository, slug: str | None) -> DiscoveredProvider:
    listed = ", ".join(sorted(repository.addons))
    if slug is None:
        if len(repository.addons) == 1:
            return next(iter(repository.addons.values()))
        raise InvalidRequestError(
            f"slug: required: the repository lists several add-ons: {listed}", field="slug"
        )
    found = repository.addons.get(slug)
    if found is None:
        raise InvalidRequestError(
            f"slug: the repository lists no add-on {slug!r} (it lists: {listed})", field="slug"
        )
    return found


def _move(clone: Path, dest: Path) -> None:
    """Move the checked clone into place (a leftover of an interrupted install is replaced)."""
    if dest.exists():
        shutil.rmtree(dest)
    clone.rename(dest)
