"""The `docker` runtime: the provider's image run as a hardened container (docker SDK).

The image is the manifest's `image` (or `settings.<slug>.image`) when it exists locally, else it
is built from the provider folder's Dockerfile: with the repository root as the build context
when the provider is one of the bundled ones (their Dockerfiles copy the SDK from the tree), with
the provider folder otherwise. Containers are labelled `timebase.provider=<slug>` and
`timebase.managed=true` (leftovers of a crashed gateway are removed at the next start), run as a
non-root user with a read-only root filesystem, all capabilities dropped, no-new-privileges and
memory/CPU/pids limits; the gRPC port is published on 127.0.0.1 only, on an ephemeral host port,
through which the gateway reaches them.

Provider containers join one network only, their own (`providers.docker_network`, default
`timebase-providers`): a bridge network created when missing (labelled `timebase.network`), with
inter-container traffic off, so a provider reaches neither the other providers nor the
containers on Docker's default bridge; it keeps its egress (Yahoo is on the internet). An
existing network of that name is reused if it is a bridge. The values of secret options are
masked in the container output the gateway logs.

An add-on installed from a repository runs an image tagged `<version>-<commit>` (`tag_of`): that
image is the runtime's own, and `discard` deletes it once the add-on is uninstalled or runs
another commit.

Every docker SDK call blocks, so each runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from timebase.sdk.conventions import DEFAULT_PROVIDER_PORT
from timebase.sdk.options import mask_values
from timebase.supervisor.runtime import ExitInfo, Runtime
from timebase.supervisor.state import ProviderStartError

log = logging.getLogger("timebase.supervisor.docker")
provider_log = logging.getLogger("timebase.provider")

CONTAINER_PORT = DEFAULT_PROVIDER_PORT
LABEL_PROVIDER = "timebase.provider"
LABEL_MANAGED = "timebase.managed"
DEFAULT_USER = "10001:10001"
_PORT_WAIT_SECONDS = 10.0
#: The providers' own network: its default name, its label, its bridge options.
DEFAULT_NETWORK = "timebase-providers"
LABEL_NETWORK = "timebase.network"
NETWORK_OPTIONS = {"com.docker.network.bridge.enable_icc": "false"}
_network_lock = threading.Lock()


@dataclass(frozen=True)
class ContainerLimits:
    memory_mb: int = 256
    cpus: float = 1.0
    pids_limit: int = 256


#: What an image tag may not hold (a tag is `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
_NOT_IN_TAG = re.compile(r"[^A-Za-z0-9_.-]")
_TAG_MAX = 128


def tag_of(version: str, revision: str | None = None) -> str:
    """The image tag of a provider `version` (`<version>-<revision>` with a revision): a
    character no tag may hold becomes `_` (semver's `1.1.0+build.2` gives `1.1.0_build.2`), a
    leading `.` or `-` goes, and the version is cut so the tag keeps its revision within 128."""
    tag = _NOT_IN_TAG.sub("_", version).lstrip(".-") or "latest"
    if revision is None:
        return tag[:_TAG_MAX]
    suffix = "-" + _NOT_IN_TAG.sub("_", revision)
    return tag[: _TAG_MAX - len(suffix)] + suffix


def image_tag(slug: str, version: str, image: str | None) -> str:
    """The image to run: `image` as given (with `:version` when untagged), else a local name."""
    name = image or f"timebase/provider-{slug}"
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last or "@" in name else f"{name}:{tag_of(version)}"


def build_context(folder: Path) -> tuple[Path, str]:
    """(context, Dockerfile path relative to it) for building the provider in `folder`.

    Bundled providers (`<repo>/providers/<slug>`, with the SDK in `<repo>/sdk`) build from the
    repository root. Blocking (file checks): call it in a thread.
    """
    folder = folder.resolve()
    root = folder.parent.parent
    if (root / "sdk" / "timebase" / "sdk").is_dir() and (folder / "Dockerfile").is_file():
        return root, str((folder / "Dockerfile").relative_to(root))
    return folder, "Dockerfile"


def container_spec(
    slug: str,
    image: str,
    *,
    options: Mapping[str, Any],
    limits: ContainerLimits,
    log_level: str = "INFO",
    user: str = DEFAULT_USER,
    network: str = DEFAULT_NETWORK,
) -> dict[str, Any]:
    """Keyword arguments of `client.containers.run` for one provider instance."""
    return {
        "network": network,
        "image": image,
        "name": f"timebase-{slug}-{uuid.uuid4().hex[:8]}",
        "detach": True,
        "labels": {LABEL_PROVIDER: slug, LABEL_MANAGED: "true"},
        "environment": {
            "TIMEBASE_PROVIDER_HOST": "0.0.0.0",
            "TIMEBASE_PROVIDER_PORT": str(CONTAINER_PORT),
            "TIMEBASE_PROVIDER_OPTIONS": json.dumps(dict(options), default=str),
            "TIMEBASE_LOG_LEVEL": log_level,
        },
        "user": user,
        "read_only": True,
        "tmpfs": {"/tmp": "rw,noexec,nosuid,size=16m"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "mem_limit": f"{limits.memory_mb}m",
        "memswap_limit": f"{limits.memory_mb}m",
        "nano_cpus": int(limits.cpus * 1_000_000_000),
        "pids_limit": limits.pids_limit,
        "ports": {f"{CONTAINER_PORT}/tcp": ("127.0.0.1", None)},
        "init": True,
    }


def ensure_network(client: Any, name: str) -> None:
    """The providers' network `name`: created (a bridge without inter-container traffic) when
    missing, reused when it is a bridge; ProviderStartError otherwise. Blocking."""
    import docker.errors

    with _network_lock:
        try:
            network = client.networks.get(name)
        except docker.errors.NotFound:
            try:
                client.networks.create(
                    name,
                    driver="bridge",
                    options=NETWORK_OPTIONS,
                    labels={LABEL_NETWORK: "providers"},
                )
                log.info("created the providers' Docker network %s", name)
                return
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: another gateway created it meanwhile
                    raise ProviderStartError(
                        f"cannot create the providers' Docker network {name}: {exc}"
                    ) from None
                network = client.networks.get(name)
        driver = network.attrs.get("Driver")
        if driver != "bridge":
            raise ProviderStartError(
                f"the Docker network {name} (providers.docker_network) uses the {driver} "
                "driver; providers need a bridge network: name another, or remove it and "
                "TimeBase creates one"
            )


class DockerRuntime(Runtime):
    kind = "docker"

    def __init__(
        self,
        slug: str,
        folder: Path | None,
        *,
        version: str = "latest",
        image: str | None = None,
        options: Mapping[str, Any] | None = None,
        limits: ContainerLimits | None = None,
        log_level: str = "INFO",
        client: Any = None,
        network: str = DEFAULT_NETWORK,
        secrets: Collection[str] = (),
        revision: str | None = None,
    ) -> None:
        super().__init__(slug)
        self.network = network
        self._secrets = frozenset(secrets)
        self.folder = folder
        self.image = image_tag(slug, version, image)
        #: The image is this runtime's own when it is named after a commit (`revision`, an
        #: add-on from a repository): `discard` deletes it. An image named in the manifest or
        #: the settings with a tag of its own is never deleted.
        self.owns_image = revision is not None and self.image.endswith(f"-{revision}")
        self.options = dict(options or {})
        self.limits = limits or ContainerLimits()
        self.log_level = log_level
        self._client = client
        self._container: Any = None
        self._log_thread: threading.Thread | None = None

    # -- set-up ------------------------------------------------------------------------------

    async def prepare(self) -> None:
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        client = self._docker()
        self._remove_leftovers(client)
        ensure_network(client, self.network)
        import docker.errors

        try:
            client.images.get(self.image)
            return
        except docker.errors.ImageNotFound:
            pass
        if self.folder is None or not (self.folder / "Dockerfile").is_file():
            raise ProviderStartError(
                f"provider {self.slug}: image {self.image} is not available locally and there "
                "is no Dockerfile to build it from",
                provider=self.slug,
            )
        context, dockerfile = build_context(self.folder)
        log.info(
            "building image %s for provider %s from %s",
            self.image,
            self.slug,
            context / dockerfile,
            extra={"provider": self.slug},
        )
        try:
            client.images.build(
                path=str(context), dockerfile=dockerfile, tag=self.image, rm=True, pull=False
            )
        except (docker.errors.BuildError, docker.errors.APIError) as exc:
            raise ProviderStartError(
                f"provider {self.slug}: building {self.image} failed: {exc}", provider=self.slug
            ) from None

    def _docker(self) -> Any:
        if self._client is None:
            import docker

            try:
                self._client = docker.from_env()
            except docker.errors.DockerException as exc:
                raise ProviderStartError(
                    f"provider {self.slug}: no Docker API reachable ({exc})", provider=self.slug
                ) from None
        return self._client

    def _remove_leftovers(self, client: Any) -> None:
        labels = [f"{LABEL_PROVIDER}={self.slug}", f"{LABEL_MANAGED}=true"]
        for container in client.containers.list(all=True, filters={"label": labels}):
            log.warning(
                "removing leftover container %s of provider %s",
                container.name,
                self.slug,
                extra={"provider": self.slug},
            )
            with contextlib.suppress(Exception):
                container.remove(force=True)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> str:
        if self._client is None:
            await self.prepare()
        task = asyncio.ensure_future(asyncio.to_thread(self._start))
        try:
            return await asyncio.shield(task)
        except BaseException:
            # Cancelled or failed mid-start: the container must not outlive this call.
            with contextlib.suppress(BaseException):
                await task
            await asyncio.shield(asyncio.to_thread(self._remove))
            raise

    def _start(self) -> str:
        import docker.errors

        client = self._docker()
        ensure_network(client, self.network)  # it may have been removed since
        spec = container_spec(
            self.slug,
            self.image,
            options=self.options,
            limits=self.limits,
            log_level=self.log_level,
            network=self.network,
        )
        try:
            self._container = client.containers.run(**spec)
        except docker.errors.APIError as exc:
            raise ProviderStartError(
                f"provider {self.slug}: cannot run {self.image}: {exc}", provider=self.slug
            ) from None
        self._follow_logs(self._container)
        port = self._published_port()
        return f"127.0.0.1:{port}"

    def _published_port(self) -> int:
        import time

        deadline = time.monotonic() + _PORT_WAIT_SECONDS
        while True:
            self._container.reload()
            bindings = (self._container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
            for binding in bindings.get(f"{CONTAINER_PORT}/tcp") or []:
                if binding.get("HostPort"):
                    return int(binding["HostPort"])
            if self._container.status in ("exited", "dead") or time.monotonic() > deadline:
                raise ProviderStartError(
                    f"provider {self.slug}: container {self._container.name} published no port "
                    f"(status {self._container.status})",
                    provider=self.slug,
                )
            time.sleep(0.1)

    def _follow_logs(self, container: Any) -> None:
        def follow() -> None:
            with contextlib.suppress(Exception):
                for raw in container.logs(stream=True, follow=True):
                    line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                    line = mask_values(line, self._secrets)
                    provider_log.info(
                        "%s", line, extra={"provider": self.slug, "container": container.name}
                    )

        self._log_thread = threading.Thread(target=follow, name=f"logs-{self.slug}", daemon=True)
        self._log_thread.start()

    async def stop(self, grace: float) -> None:
        await asyncio.shield(asyncio.to_thread(self._remove, grace))

    def _remove(self, timeout: float = 0.0) -> None:
        container, self._container = self._container, None
        if container is None:
            return
        with contextlib.suppress(Exception):
            container.stop(timeout=max(1, round(timeout)))
        with contextlib.suppress(Exception):
            container.remove(force=True)
        log.info("provider %s container removed", self.slug, extra={"provider": self.slug})

    async def discard(self, keep: Runtime | None = None) -> None:
        if not self.owns_image or (isinstance(keep, DockerRuntime) and keep.image == self.image):
            return
        await asyncio.to_thread(self._discard_image)

    def _discard_image(self) -> None:
        import docker.errors

        try:
            self._docker().images.remove(self.image)
        except docker.errors.ImageNotFound:
            return
        except (docker.errors.DockerException, ProviderStartError) as exc:  # 409: in use
            log.warning(
                "provider %s: image %s kept: %s", self.slug, self.image, exc,
                extra={"provider": self.slug},
            )  # fmt: skip
            return
        log.info(
            "provider %s: image %s removed", self.slug, self.image, extra={"provider": self.slug}
        )

    def kill_now(self) -> None:
        container = self._container
        if container is not None:
            with contextlib.suppress(Exception):
                container.remove(force=True)

    async def poll(self) -> ExitInfo | None:
        return await asyncio.to_thread(self._poll)

    def _poll(self) -> ExitInfo | None:
        import docker.errors

        container = self._container
        if container is None:
            return None
        try:
            container.reload()
        except docker.errors.NotFound:
            return ExitInfo(None, "container disappeared")
        if container.status in ("exited", "dead"):
            state = container.attrs.get("State") or {}
            code = state.get("ExitCode")
            oom = " (out of memory)" if state.get("OOMKilled") else ""
            return ExitInfo(code, f"container {container.status} with code {code}{oom}")
        return None

    async def logs(self, tail: int = 100) -> list[str]:
        container = self._container
        if container is None:
            return []

        def read() -> list[str]:
            with contextlib.suppress(Exception):
                raw: bytes = container.logs(tail=tail)
                text = raw.decode("utf-8", errors="replace")
                return mask_values(text, self._secrets).splitlines()
            return []

        return await asyncio.to_thread(read)

    @property
    def container_id(self) -> str | None:
        container = self._container
        return str(container.id) if container is not None else None
