"""The supervisor: discovers provider add-ons and keeps the enabled ones running.

    supervisor = Supervisor(config)
    await supervisor.start()      # discover, start all enabled concurrently, bounded wait
    supervisor.providers()        # [ProviderState, …]: status, address, restarts, latency, …
    await supervisor.wait_ready("synthetic", timeout=10)
    unsubscribe = supervisor.subscribe(lambda state: ...)   # every state change
    await supervisor.stop()       # staged, bounded; no provider process or container left

At run time, without restarting the others (the admin API's install / remove):

    state = await supervisor.install(folder)   # a provider folder in a configured directory
    await supervisor.remove("slug")             # stopped (container/process gone) and forgotten
    await supervisor.set_enabled("slug", False) # stopped, listed as disabled, persisted
    await supervisor.refresh("slug")            # its manifest read again (capabilities)

Add-ons installed from Git repositories (`timebase.repos`) and the slugs an admin disabled are
saved in `<data_dir>/provider-admin.json` (`persisted.AdminState`) and restored by `start()`.

Which providers run: every provider discovered in the bundled folder and `providers.directories`
plus every `providers.settings.<slug>` with runtime `remote`, restricted to `providers.enabled`
when set, minus `providers.disabled`. A provider that cannot run (unknown slug, invalid options,
no address, …) is listed as `failed` with the reason; it never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from timebase.core.config import Config
from timebase.sdk.errors import ConfigError, ProviderAlreadyInstalled
from timebase.sdk.manifest import load_manifest
from timebase.supervisor.building import (
    Unrunnable,
    build_runtime,
    revision_runtime,
    runtime_of,
)
from timebase.supervisor.discovery import (
    MANIFEST_FILE,
    DiscoveredProvider,
    Discovery,
    InvalidManifest,
    bundled_providers_dir,
    discover,
)
from timebase.supervisor.persisted import AdminState, RepositoryInstall
from timebase.supervisor.runtime import Runtime
from timebase.supervisor.state import ProviderNotFoundError, ProviderState, ProviderStatus
from timebase.supervisor.watchdog import SupervisedProvider, WatchdogPolicy

log = logging.getLogger("timebase.supervisor")

StateCallback = Callable[[ProviderState], None]

#: Extra seconds `start()` and `stop()` allow beyond the configured timeouts.
_MARGIN_SECONDS = 2.0


class Supervisor:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.policy = WatchdogPolicy.from_config(config.providers)
        self._handles: dict[str, SupervisedProvider] = {}
        self._callbacks: list[StateCallback] = []
        self.invalid_manifests: tuple[InvalidManifest, ...] = ()
        self.discovered: dict[str, DiscoveredProvider] = {}
        #: What admins changed at run time (repository installs, disabled slugs), persisted.
        self.saved = AdminState(config.data_dir / "provider-admin.json")
        self._started = False
        self._stopping = False

    # -- queries -----------------------------------------------------------------------------

    def providers(self) -> list[ProviderState]:
        """Current state of every supervised provider, by slug."""
        return [self._handles[slug].state for slug in sorted(self._handles)]

    def configured_slugs(self) -> frozenset[str]:
        """Every provider known here, running or not: supervised (any status), discovered in a
        providers directory (disabled ones too), or named in `providers.settings` / `enabled`."""
        cfg = self.config.providers
        return frozenset([*self._handles, *self.discovered, *cfg.settings, *(cfg.enabled or ())])

    def get(self, slug: str) -> ProviderState:
        return self._handle(slug).state

    def _handle(self, slug: str) -> SupervisedProvider:
        try:
            return self._handles[slug]
        except KeyError:
            raise ProviderNotFoundError(f"no provider {slug!r}", provider=slug) from None

    def ready(self) -> list[ProviderState]:
        """The providers that are ready to serve now."""
        return [s for s in self.providers() if s.status is ProviderStatus.READY]

    async def wait_ready(self, slug: str, within: float | None = None) -> ProviderState:
        """The provider's state once ready (ProviderFailedError if it fails first)."""
        return await self._handle(slug).wait_ready(within)

    async def wait_for(
        self, slug: str, predicate: Callable[[ProviderState], bool], within: float | None = None
    ) -> ProviderState:
        """The provider's first state satisfying `predicate` (TimeoutError after `within` s)."""
        return await self._handle(slug).wait_for(predicate, within)

    def subscribe(self, callback: StateCallback) -> Callable[[], None]:
        """Call `callback(state)` on every state change of any provider; returns unsubscribe."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    async def logs(self, slug: str, tail: int = 100) -> list[str]:
        """The last lines the provider's current instance wrote."""
        return await self._handle(slug).runtime.logs(tail)

    def _notify(self, state: ProviderState) -> None:
        for callback in list(self._callbacks):
            try:
                callback(state)
            except Exception:
                log.exception("provider state callback failed", extra={"provider": state.slug})

    # -- lifecycle ---------------------------------------------------------------------------

    def provider_dirs(self) -> list[Path]:
        """Folders searched for providers: the bundled one first, then the configured ones."""
        cfg = self.config.providers
        bundled = cfg.bundled_dir if cfg.bundled_dir is not None else bundled_providers_dir()
        return [bundled, *cfg.directories]

    async def start(self) -> None:
        """Discover, start every enabled provider concurrently, wait (bounded) for readiness."""
        if self._started:
            return
        self._started = True
        discovery = await asyncio.to_thread(self._discover)
        self.discovered = discovery.providers
        self.invalid_manifests = discovery.invalid
        if self._stopping:  # stop() was called while discovering: launch nothing
            return
        for slug in self._selected(discovery):
            self._handles[slug] = self._build(slug, discovery.providers.get(slug))
        for handle in self._handles.values():
            handle.start()
        if not self._handles:
            log.warning("no provider is enabled")
            return
        bound = self.policy.start_timeout + _MARGIN_SECONDS
        waits = [asyncio.create_task(h.settled.wait()) for h in self._handles.values()]
        _done, pending = await asyncio.wait(waits, timeout=bound)
        for task in pending:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        summary = ", ".join(f"{s.slug}={s.status.value}" for s in self.providers())
        log.info("providers started: %s", summary)

    def _discover(self) -> Discovery:
        """The providers directories plus the add-ons installed from repositories. Blocking."""
        self.saved = AdminState.load(self.config.data_dir)
        found = discover(self.provider_dirs())
        providers, invalid = dict(found.providers), list(found.invalid)
        for slug, entry in self.saved.installed.items():
            path = entry.path(self.config.data_dir, slug)
            try:
                manifest = load_manifest(path / MANIFEST_FILE)
            except ConfigError as exc:
                log.error("installed provider %s skipped: %s", slug, exc.message)
                invalid.append(InvalidManifest(path / MANIFEST_FILE, exc.message))
                continue
            if manifest.slug != slug or slug in providers:
                log.error("installed provider %s skipped: its slug is taken or changed", slug)
                continue
            providers[slug] = DiscoveredProvider(manifest, path)
        return Discovery(providers, tuple(invalid))

    def _selected(self, discovery: Discovery) -> list[str]:
        cfg = self.config.providers
        remote = [
            slug for slug, s in cfg.settings.items() if runtime_of(s, cfg.runtime) == "remote"
        ]
        candidates: Iterable[str] = (
            [*cfg.enabled, *self.saved.installed]
            if cfg.enabled is not None
            else [*discovery.providers, *remote]
        )
        selected: list[str] = []
        for slug in candidates:
            if slug not in selected and slug not in cfg.disabled:
                selected.append(slug)
        return selected

    def _build(self, slug: str, found: DiscoveredProvider | None) -> SupervisedProvider:
        """The handle of `slug`: runnable, failed (with why) or disabled (not started)."""
        manifest = found.manifest if found is not None else None
        disabled = slug in self.saved.disabled
        problem: str | None = None
        runtime: Runtime = Unrunnable(slug)
        origin = self.saved.installed.get(slug)
        if not disabled:
            try:
                runtime = build_runtime(
                    self.config,
                    slug,
                    found,
                    self.provider_dirs(),
                    revision=origin.commit[:12] if origin is not None else None,
                )
            except ConfigError as exc:
                problem = exc.message
                log.error("provider %s cannot run: %s", slug, problem, extra={"provider": slug})
        handle = SupervisedProvider(
            slug, runtime, self.policy, manifest=manifest, on_change=self._notify
        )
        if origin is not None:
            handle.describe(manifest=manifest, repository=origin.repository, commit=origin.commit)
        if disabled:
            handle.disable()
        elif problem is not None:
            handle.fail(problem)
        return handle

    async def install(self, folder: Path | str) -> ProviderState:
        """Add the provider in `folder` and start it while the others keep running.

        `folder` is a provider folder (manifest, and a Dockerfile or src/main.py for its runtime)
        inside one of `provider_dirs()`; a bare name means `<configured dir>/<name>`. The
        provider runs with its configured runtime and settings, like one found at start-up.
        Returns its state once settled (ready, or failed with the reason; bounded by the start
        timeout). ConfigError when the folder is elsewhere, its manifest is invalid or the slug is
        disabled; ProviderAlreadyInstalled (a ConfigError) when the slug is already supervised.
        """
        found = await asyncio.to_thread(self._load_folder, folder)
        return await self.install_found(found)

    def check_installable(self, slug: str) -> None:
        """ProviderAlreadyInstalled when `slug` is supervised, found in a providers directory or
        installed from a repository; ConfigError when it is disabled in the configuration."""
        if self._stopping:
            raise ConfigError("the supervisor is stopping: no provider can be installed")
        if slug in self._handles or slug in self.discovered or slug in self.saved.installed:
            raise ProviderAlreadyInstalled(
                f"provider {slug!r} is already installed (remove it first)", provider=slug
            )
        if slug in self.config.providers.disabled:
            raise ConfigError(f"provider {slug!r} is disabled in providers.disabled")

    async def install_found(
        self, found: DiscoveredProvider, origin: RepositoryInstall | None = None
    ) -> ProviderState:
        """Start `found` (see `install`); an `origin` (a repository install) is saved first, so
        the provider comes back after a restart."""
        slug = found.slug
        if slug in self._handles:
            raise ProviderAlreadyInstalled(
                f"provider {slug!r} is already installed (remove it first)", provider=slug
            )
        if origin is None:
            self._check_enabled(slug)
        else:
            self.check_installable(slug)
            await self._save(self.saved.with_installed(slug, origin))
        self.discovered = {**self.discovered, slug: found}
        log.info("installing provider %s from %s", slug, found.path, extra={"provider": slug})
        return await self._launch(self._build(slug, found))

    def _check_enabled(self, slug: str) -> None:
        if self._stopping:
            raise ConfigError("the supervisor is stopping: no provider can be installed")
        if slug in self.config.providers.disabled:
            raise ConfigError(f"provider {slug!r} is disabled in providers.disabled")

    async def _launch(self, handle: SupervisedProvider) -> ProviderState:
        """Supervise `handle`, start it and return its state once settled (bounded)."""
        self._handles[handle.slug] = handle
        handle.start()
        bound = self.policy.start_timeout + _MARGIN_SECONDS
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(handle.settled.wait(), timeout=bound)
        return handle.state

    async def _save(self, saved: AdminState) -> None:
        await asyncio.to_thread(saved.save)
        self.saved = saved

    async def set_enabled(self, slug: str, enabled: bool) -> ProviderState:
        """Enable or disable `slug` (persisted; a disabled provider is stopped and stays listed
        with status `disabled`). Idempotent. ProviderNotFoundError for an unknown slug."""
        handle = self._handle(slug)
        if enabled == (slug not in self.saved.disabled):
            return handle.state
        await self._save(self.saved.with_disabled(slug, not enabled))
        log.info("%s provider %s", "enabling" if enabled else "disabling", slug)
        replacement = self._build(slug, self.discovered.get(slug))
        if enabled:
            await self._stop_handle(handle)
            return await self._launch(replacement)
        self._handles[slug] = replacement
        await self._stop_handle(handle)
        return replacement.state

    async def replace(
        self, found: DiscoveredProvider, origin: RepositoryInstall | None = None
    ) -> ProviderState:
        """Restart `found.slug` from `found` (an updated folder); `origin` saved first."""
        slug = found.slug
        handle = self._handle(slug)
        made = self._revision_runtime(slug, handle)
        if origin is not None:
            await self._save(self.saved.with_installed(slug, origin))
        self.discovered = {**self.discovered, slug: found}
        await self._stop_handle(handle)
        replacement = self._build(slug, found)
        if slug in self.saved.disabled:
            self._handles[slug] = replacement
            state = replacement.state
        else:
            state = await self._launch(replacement)
        await made.discard(keep=replacement.runtime)
        return state

    async def refresh(self, slug: str) -> ProviderState:
        """Read the manifest of `slug` again (capabilities, intervals, symbols) without a
        restart. ConfigError when it is now invalid or names another slug."""
        handle = self._handle(slug)
        found = self.discovered.get(slug)
        if found is None:  # a remote provider: nothing on disk to read
            return handle.state
        path = found.path / MANIFEST_FILE
        manifest = await asyncio.to_thread(load_manifest, path)
        if manifest.slug != slug:
            raise ConfigError(
                f"{path}: slug: now {manifest.slug!r}, installed as {slug!r} (remove and install "
                "it again to rename it)"
            )
        self.discovered = {**self.discovered, slug: DiscoveredProvider(manifest, found.path)}
        origin = self.saved.installed.get(slug)
        handle.describe(
            manifest=manifest,
            repository=origin.repository if origin else None,
            commit=origin.commit if origin else None,
        )
        return handle.state

    def _load_folder(self, folder: Path | str) -> DiscoveredProvider:
        """The provider in `folder`, which must lie in a provider directory. Blocking."""
        dirs = [d.expanduser().resolve() for d in self.provider_dirs()]
        where = ", ".join(str(d) for d in dirs)
        path = Path(folder).expanduser()
        if not path.is_absolute():
            candidates = [d / path for d in dirs if (d / path / MANIFEST_FILE).is_file()]
            if not candidates:
                raise ConfigError(f"no provider folder {str(folder)!r} with a manifest in {where}")
            path = candidates[0]
        path = path.resolve()
        if path.parent not in dirs:
            raise ConfigError(f"{path}: providers are installed from a folder in {where}")
        if not (path / MANIFEST_FILE).is_file():
            raise ConfigError(f"{path / MANIFEST_FILE}: no provider manifest")
        return DiscoveredProvider(load_manifest(path / MANIFEST_FILE), path)

    async def remove(self, slug: str) -> None:
        """Stop the provider `slug` (its process or container is gone on return) and forget it.

        ProviderNotFoundError when no such provider is supervised. The folder stays on disk:
        `install` starts it again.
        """
        handle = self._handle(slug)
        made = self._revision_runtime(slug, handle)
        del self._handles[slug]
        self.discovered = {k: v for k, v in self.discovered.items() if k != slug}
        if slug in self.saved.disabled or slug in self.saved.installed:
            await self._save(self.saved.with_disabled(slug, False).with_installed(slug, None))
        log.info("removing provider %s", slug, extra={"provider": slug})
        await self._stop_handle(handle)
        await made.discard()

    def _revision_runtime(self, slug: str, handle: SupervisedProvider) -> Runtime:
        """What ran (or, disabled, would run) `handle`'s revision: `discard` cleans it up."""
        origin = self.saved.installed.get(slug)
        return revision_runtime(
            self.config,
            handle.runtime,
            self.discovered.get(slug),
            self.provider_dirs(),
            origin.commit if origin is not None else None,
        )

    async def _stop_handle(self, handle: SupervisedProvider) -> None:
        """Stop one handle (graceful, then killed), bounded."""
        slug = handle.slug
        bound = self.policy.stop_timeout + _MARGIN_SECONDS + 3.0
        try:
            await asyncio.wait_for(handle.stop(), timeout=bound)
        except TimeoutError:
            log.error("stopping provider %s timed out; killing it", slug, extra={"provider": slug})
            handle.runtime.kill_now()

    async def stop(self) -> None:
        """Stop every provider concurrently (graceful, then forced), bounded; idempotent."""
        self._stopping = True
        handles = list(self._handles.values())
        if not handles:
            return
        bound = self.policy.stop_timeout + _MARGIN_SECONDS + 3.0
        stops = [asyncio.create_task(h.stop()) for h in handles]
        _done, pending = await asyncio.wait(stops, timeout=bound)
        if pending:
            log.error("stopping providers timed out after %g s; killing them", bound)
            for handle in handles:
                handle.runtime.kill_now()
            for task in pending:
                task.cancel()
        results = await asyncio.gather(*stops, return_exceptions=True)
        for handle, result in zip(handles, results, strict=True):
            if isinstance(result, Exception):
                log.error(
                    "stopping provider %s failed: %s",
                    handle.slug,
                    result,
                    extra={"provider": handle.slug},
                )
