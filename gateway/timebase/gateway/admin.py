"""The admin API's core (behind `QueryApi.install_provider` / `remove_provider` / …, for the
gRPC and REST doors): providers installed, updated, enabled, disabled and removed at run time,
without restarting the gateway.

    admin = ProviderAdmin(supervisor, history)      # supervisor None: every call is refused
    state = await admin.install("tiny")              # a folder (or its name) in a providers dir
    state = await admin.install_repository(url, "acme")   # an add-on of a Git repository
    state = await admin.update("acme")               # pull, then restart
    state = await admin.set_enabled("acme", False)   # stopped, listed as disabled, persisted
    state = await admin.refresh("acme")              # its manifest (capabilities) read again
    await admin.remove("tiny")                       # its process or container is gone on return

A folder install takes only folders directly inside the bundled folder or a configured
`providers.directories` entry (the supervisor checks); a repository install clones the URL
(`timebase.repos`, which says what is refused and how). Errors leave as
`TimeBaseError`s each door maps in its one error boundary: a duplicate is
`ProviderAlreadyInstalled`, a folder outside the directories, an invalid manifest or a disabled
slug an `InvalidRequestError` on `folder`, an unknown slug `ProviderNotFound`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import Protocol

from timebase.gateway.bar_request import check_provider
from timebase.gateway.history import HistoricalBars
from timebase.repos import RepositoryInstaller
from timebase.sdk.errors import (
    ConfigError,
    InvalidRequestError,
    NotImplementedByServer,
    ProviderAlreadyInstalled,
    ProviderNotFound,
)
from timebase.supervisor.state import ProviderNotFoundError, ProviderState
from timebase.supervisor.supervisor import Supervisor

#: The longest folder argument accepted (a path, not a document).
MAX_FOLDER_CHARS = 4096


class ProviderInstaller(Protocol):
    """What the admin API needs from the supervisor."""

    async def install(self, folder: Path | str) -> ProviderState: ...

    async def remove(self, slug: str) -> None: ...

    async def set_enabled(self, slug: str, enabled: bool) -> ProviderState: ...

    async def refresh(self, slug: str) -> ProviderState: ...


class ProviderAdmin:
    """Install / remove providers through `supervisor`; see the module docstring."""

    def __init__(self, supervisor: ProviderInstaller | None, history: HistoricalBars) -> None:
        self.supervisor = supervisor
        self.history = history
        #: Repository installs need the real supervisor (its saved state and data directory).
        self.repos = RepositoryInstaller(supervisor) if isinstance(supervisor, Supervisor) else None
        #: One admin operation at a time (an enable never races an update of the same slug).
        self._lock = asyncio.Lock()

    def _installer(self, what: str) -> ProviderInstaller:
        if self.supervisor is None:
            raise NotImplementedByServer(
                f"{what}: this server runs without a provider supervisor, so providers cannot "
                "be installed or removed at run time"
            )
        return self.supervisor

    async def install(self, folder: str) -> ProviderState:
        """Start the provider in `folder`; its state once ready or failed (with the reason)."""
        installer = self._installer("InstallProvider")
        text = folder.strip()
        if not text:
            raise InvalidRequestError(
                "folder: required: a provider folder inside a configured providers directory, "
                "or its name",
                field="folder",
            )
        if len(text) > MAX_FOLDER_CHARS or "\x00" in text:
            raise InvalidRequestError(
                f"folder: not a usable path (at most {MAX_FOLDER_CHARS} characters, no NUL)",
                field="folder",
            )
        try:
            async with self._lock:
                return await installer.install(text)
        except ProviderAlreadyInstalled:
            raise
        except ConfigError as exc:
            raise InvalidRequestError(
                f"folder: {exc.message}", **{**exc.details, "field": "folder"}
            ) from None

    async def install_repository(self, url: str, slug: str) -> ProviderState:
        """Install the add-on `slug` (optional when the repository lists one) from `url`."""
        self._installer("InstallProvider")
        repos = self._repos("InstallProvider")
        try:
            async with self._lock:
                return await repos.install(url, slug.strip() or None)
        except ProviderAlreadyInstalled:
            raise
        except ConfigError as exc:
            raise InvalidRequestError(
                f"slug: {exc.message}", **{**exc.details, "field": "slug"}
            ) from None

    async def update(self, slug: str) -> ProviderState:
        """Pull the repository of `slug`, then restart it."""
        self._installer("UpdateProvider")
        checked = self._slug(slug)
        repos = self._repos("UpdateProvider")
        async with self._lock:
            state = await self._found(checked, repos.update(checked))
        await self.history.clients.drop(checked)
        return state

    async def set_enabled(self, slug: str, enabled: bool) -> ProviderState:
        """Enable or disable `slug` (persisted across restarts)."""
        installer = self._installer("SetProviderEnabled")
        checked = self._slug(slug)
        async with self._lock:
            state = await self._found(checked, installer.set_enabled(checked, enabled))
        await self.history.clients.drop(checked)
        return state

    async def refresh(self, slug: str) -> ProviderState:
        """Read the manifest of `slug` again (capabilities, intervals, symbols)."""
        installer = self._installer("RefreshProvider")
        checked = self._slug(slug)
        try:
            async with self._lock:
                return await self._found(checked, installer.refresh(checked))
        except ConfigError as exc:
            raise InvalidRequestError(
                f"slug: {exc.message}", **{**exc.details, "field": "slug"}
            ) from None

    def _repos(self, what: str) -> RepositoryInstaller:
        if self.repos is None:
            raise NotImplementedByServer(
                f"{what}: this server's supervisor cannot install from repositories"
            )
        return self.repos

    @staticmethod
    def _slug(slug: str) -> str:
        checked = check_provider(slug, "slug")
        if checked is None:
            raise InvalidRequestError("slug: required", field="slug")
        return checked

    @staticmethod
    async def _found(slug: str, call: Awaitable[ProviderState]) -> ProviderState:
        try:
            return await call
        except ProviderNotFoundError:
            raise ProviderNotFound(f"slug: no installed provider {slug!r}", provider=slug) from None

    async def remove(self, slug: str) -> None:
        """Stop the provider `slug` and forget it (a providers-directory folder stays on disk; an
        add-on installed from a repository loses its clone and venv)."""
        installer = self._installer("RemoveProvider")
        checked = self._slug(slug)
        try:
            async with self._lock:
                if self.repos is not None:
                    await self.repos.uninstall(checked)
                else:
                    await installer.remove(checked)
        except ProviderNotFoundError:
            raise ProviderNotFound(
                f"slug: no installed provider {checked!r}", provider=checked
            ) from None
        await self.history.clients.drop(checked)
