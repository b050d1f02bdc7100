"""The admin API's core (behind `QueryApi.install_provider` / `remove_provider`, for the gRPC
and REST doors): providers installed and removed at run time, without restarting the gateway.

    admin = ProviderAdmin(supervisor, history)      # supervisor None: every call is refused
    state = await admin.install("tiny")              # a folder (or its name) in a providers dir
    await admin.remove("tiny")                       # its process or container is gone on return

Only folders directly inside the bundled folder or a configured `providers.directories` entry
can be installed (the supervisor checks); nothing is fetched from elsewhere. Errors leave as
`TimeBaseError`s each door maps in its one error boundary: a duplicate is
`ProviderAlreadyInstalled`, a folder outside the directories, an invalid manifest or a disabled
slug an `InvalidRequestError` on `folder`, an unknown slug `ProviderNotFound`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from timebase.gateway.bar_request import check_provider
from timebase.gateway.history import HistoricalBars
from timebase.sdk.errors import (
    ConfigError,
    InvalidRequestError,
    NotImplementedByServer,
    ProviderAlreadyInstalled,
    ProviderNotFound,
)
from timebase.supervisor.state import ProviderNotFoundError, ProviderState

#: The longest folder argument accepted (a path, not a document).
MAX_FOLDER_CHARS = 4096


class ProviderInstaller(Protocol):
    """What the admin API needs from the supervisor."""

    async def install(self, folder: Path | str) -> ProviderState: ...

    async def remove(self, slug: str) -> None: ...


class ProviderAdmin:
    """Install / remove providers through `supervisor`; see the module docstring."""

    def __init__(self, supervisor: ProviderInstaller | None, history: HistoricalBars) -> None:
        self.supervisor = supervisor
        self.history = history

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
            return await installer.install(text)
        except ProviderAlreadyInstalled:
            raise
        except ConfigError as exc:
            raise InvalidRequestError(
                f"folder: {exc.message}", **{**exc.details, "field": "folder"}
            ) from None

    async def remove(self, slug: str) -> None:
        """Stop the provider `slug` and forget it (its folder stays on disk)."""
        installer = self._installer("RemoveProvider")
        checked = check_provider(slug, "slug")
        if checked is None:
            raise InvalidRequestError("slug: required", field="slug")
        try:
            await installer.remove(checked)
        except ProviderNotFoundError:
            raise ProviderNotFound(
                f"slug: no installed provider {checked!r}", provider=checked
            ) from None
        await self.history.clients.drop(checked)
