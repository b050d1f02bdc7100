"""How the supervisor turns a configured slug into a runtime (process, docker or remote)."""

from __future__ import annotations

from pathlib import Path

from timebase.core.config import Config, ProviderSettings
from timebase.sdk.errors import ConfigError
from timebase.sdk.manifest import Manifest
from timebase.supervisor.discovery import DiscoveredProvider
from timebase.supervisor.docker_runtime import ContainerLimits, DockerRuntime, tag_of
from timebase.supervisor.privileges import provider_user
from timebase.supervisor.process import ProcessRuntime
from timebase.supervisor.remote import RemoteRuntime
from timebase.supervisor.runtime import Runtime


class Unrunnable(Runtime):
    """Placeholder runtime of a provider that cannot run or is disabled (its state says why)."""

    kind = "none"
    managed = False

    async def start(self) -> str:  # pragma: no cover - never started
        raise AssertionError("not runnable")

    async def stop(self, grace: float) -> None:
        return None

    async def poll(self) -> None:
        return None


def runtime_of(settings: ProviderSettings, default: str) -> str:
    return settings.runtime or default


def build_runtime(
    config: Config,
    slug: str,
    found: DiscoveredProvider | None,
    dirs: list[Path],
    *,
    revision: str | None = None,
) -> Runtime:
    """The runtime of `slug` as configured; ConfigError saying why it cannot run.

    `revision` (the commit of an add-on installed from a repository) is part of its docker image
    tag, `<version>-<revision>` (`tag_of`), so an update that pulls a new commit builds a new
    image.
    """
    cfg = config.providers
    settings = cfg.settings.get(slug, ProviderSettings())
    kind = runtime_of(settings, cfg.runtime)
    where = f"providers.settings.{slug}"
    if kind == "remote":
        if settings.address is None:
            raise ConfigError(f"{where}.address: required for runtime remote")
        return RemoteRuntime(slug, settings.address)
    if found is None:
        listed = ", ".join(str(d) for d in dirs)
        raise ConfigError(f"provider {slug!r} is enabled but was not found in {listed}")
    options, secrets = _validated_options(found.manifest, settings, where)
    if kind == "docker":
        return DockerRuntime(
            slug,
            found.path,
            version=tag_of(found.manifest.version, revision),
            image=settings.image or found.manifest.image,
            options=options,
            limits=ContainerLimits(settings.memory_mb, settings.cpus, settings.pids_limit),
            log_level=config.log.level,
            network=cfg.docker_network,
            secrets=secrets,
            revision=revision,
        )
    return ProcessRuntime(
        slug,
        found.path,
        data_dir=config.data_dir,
        options=options,
        log_level=config.log.level,
        run_as=provider_user(cfg.process_user),
        passed_env=settings.environment,
        secrets=secrets,
    )


def revision_runtime(
    config: Config,
    runtime: Runtime,
    found: DiscoveredProvider | None,
    dirs: list[Path],
    commit: str | None,
) -> Runtime:
    """The runtime of the revision `commit` of an add-on from a repository whose current
    runtime is `runtime`: itself, or, when the add-on is disabled (`Unrunnable`), the one it
    would run, so that what that revision made (its image) can still be discarded."""
    if not isinstance(runtime, Unrunnable) or found is None or commit is None:
        return runtime
    try:
        return build_runtime(config, runtime.slug, found, dirs, revision=commit[:12])
    except ConfigError:
        return runtime


def _validated_options(
    manifest: Manifest, settings: ProviderSettings, where: str
) -> tuple[dict[str, object], frozenset[str]]:
    """The configured options, checked against the manifest's schema (ConfigError otherwise),
    and the values of the secret ones."""
    validated = manifest.validate_options(settings.options, source=f"{where}.options")
    return dict(settings.options), validated.secret_values()
