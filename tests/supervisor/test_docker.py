"""The docker runtime.

The container spec and build-context rules are checked everywhere; the tests marked `docker`
build the bundled synthetic provider's real image (tests/containers/support.py: local base image,
host-side wheelhouse) and run it under the supervisor, and skip, with the reason, when no Docker
API is reachable (DOCKER_HOST or the default socket). tests/containers/ covers every bundled
image, the gateway image and the compose stack.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.supervisor.conftest import BUNDLED, ROOT, make_config
from tests.support.eventually import eventually
from timebase.core.config import ProviderSettings
from timebase.supervisor import ProviderStatus, Supervisor
from timebase.supervisor.docker_runtime import (
    LABEL_MANAGED,
    LABEL_PROVIDER,
    ContainerLimits,
    build_context,
    container_spec,
    image_tag,
    tag_of,
)


def test_container_spec_is_hardened() -> None:
    spec = container_spec(
        "synthetic",
        "timebase/provider-synthetic:1.0.0",
        options={"skip_weekends": True},
        limits=ContainerLimits(memory_mb=200, cpus=0.5, pids_limit=64),
    )
    assert spec["labels"] == {LABEL_PROVIDER: "synthetic", LABEL_MANAGED: "true"}
    assert spec["user"] not in ("", "0", "root")
    assert spec["read_only"] is True
    assert spec["cap_drop"] == ["ALL"]
    assert spec["security_opt"] == ["no-new-privileges:true"]
    assert (spec["mem_limit"], spec["nano_cpus"], spec["pids_limit"]) == ("200m", 500_000_000, 64)
    assert spec["ports"] == {"50052/tcp": ("127.0.0.1", None)}  # loopback, ephemeral host port
    assert spec["environment"]["TIMEBASE_PROVIDER_OPTIONS"] == '{"skip_weekends": true}'
    assert spec["environment"]["TIMEBASE_PROVIDER_HOST"] == "0.0.0.0"
    assert spec["name"].startswith("timebase-synthetic-")
    assert spec["network"] == "timebase-providers"  # its own network, not the default bridge


def test_image_tag_and_build_context(tmp_path: Path) -> None:
    assert image_tag("x", "1.2", None) == "timebase/provider-x:1.2"
    assert image_tag("x", "1.2", "ghcr.io/me/x") == "ghcr.io/me/x:1.2"
    assert image_tag("x", "1.2", "localhost:5000/me/x:dev") == "localhost:5000/me/x:dev"
    # A version no tag can hold as it is (semver build metadata, spaces) still names an image.
    assert image_tag("x", "1.1.0+acme.2", None) == "timebase/provider-x:1.1.0_acme.2"
    assert tag_of("2024.1 beta", "0123456789ab") == "2024.1_beta-0123456789ab"
    assert tag_of("-rc.1") == "rc.1"
    assert tag_of("+") == "_"
    assert tag_of("") == "latest"
    long = tag_of("9" * 200, "0123456789ab")
    assert (len(long), long[-13:]) == (128, "-0123456789ab")  # the commit is kept
    # Bundled providers build from the repository root (their Dockerfiles copy the SDK).
    assert build_context(BUNDLED / "synthetic") == (ROOT, "providers/synthetic/Dockerfile")
    (tmp_path / "ext").mkdir()
    (tmp_path / "ext" / "Dockerfile").write_text("FROM scratch\n")
    assert build_context(tmp_path / "ext") == ((tmp_path / "ext").resolve(), "Dockerfile")


# -- against a real engine --------------------------------------------------------------------


@pytest.fixture(scope="module")
def docker_client() -> Iterator[Any]:
    """A reachable engine holding the synthetic provider's image (built from its Dockerfile)."""
    from tests.containers.support import build_provider_image, docker_client_or_skip

    client = docker_client_or_skip()
    try:
        build_provider_image(client, "synthetic")
        yield client
    finally:
        client.close()


def _managed(client: Any, slug: str) -> list[Any]:
    labels = [f"{LABEL_PROVIDER}={slug}", f"{LABEL_MANAGED}=true"]
    # sparse: no inspect per container, which races with a container being removed.
    return list(client.containers.list(all=True, sparse=True, filters={"label": labels}))


def _docker_config(data_dir: Path) -> Any:
    config = make_config(
        data_dir,
        bundled_dir=BUNDLED,
        enabled=("synthetic",),
        runtime="docker",
        start_timeout_seconds=60.0,
        settings={"synthetic": ProviderSettings(memory_mb=200, cpus=0.5, pids_limit=64)},
    )
    return config


@pytest.mark.docker
@pytest.mark.timeout(900)
async def test_docker_runtime_runs_the_synthetic_image_hardened(
    docker_client: Any, data_dir: Path
) -> None:
    from tests.supervisor.test_process import _historical

    supervisor = Supervisor(_docker_config(data_dir))
    # The first start may build the image: allow for it.
    supervisor.policy = dataclasses.replace(supervisor.policy, start_timeout=600.0)
    await supervisor.start()
    try:
        state = await supervisor.wait_ready("synthetic", within=600)
        assert state.runtime == "docker"
        assert state.container_id is not None
        assert state.address is not None
        assert state.address.startswith("127.0.0.1:")
        assert len(await _historical(state.address)) == 10
        container = await asyncio.to_thread(docker_client.containers.get, state.container_id)
        host = container.attrs["HostConfig"]
        assert host["ReadonlyRootfs"] is True
        assert host["CapDrop"] == ["ALL"]
        assert "no-new-privileges:true" in host["SecurityOpt"]
        assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (200 << 20, 5 * 10**8, 64)
        bindings = host["PortBindings"]["50052/tcp"]
        assert all(b["HostIp"] == "127.0.0.1" for b in bindings)
        uid = await asyncio.to_thread(
            container.exec_run, ["python", "-c", "import os; print(os.getuid())"]
        )
        assert uid.output.decode().strip() not in ("", "0")

        # docker kill → the watchdog restarts it and queries work again.
        await asyncio.to_thread(container.kill)
        again = await supervisor.wait_for(
            "synthetic", lambda s: s.restarts == 1 and s.status is ProviderStatus.READY, 60
        )
        assert again.container_id != state.container_id
        assert again.address is not None
        assert len(await _historical(again.address)) == 10
    finally:
        await supervisor.stop()
    # stop → no container left behind (labels make them findable).
    assert await asyncio.to_thread(_managed, docker_client, "synthetic") == []


@pytest.mark.docker
@pytest.mark.timeout(300)
async def test_docker_stop_mid_start_leaves_no_container(
    docker_client: Any, data_dir: Path
) -> None:
    import docker.errors

    supervisor = Supervisor(_docker_config(data_dir))
    supervisor.policy = dataclasses.replace(supervisor.policy, start_timeout=600.0)
    start = asyncio.create_task(supervisor.start())

    def container_id() -> str | None:
        handle = supervisor._handles.get("synthetic")
        return handle.runtime.container_id if handle is not None else None

    # Stop only once the container exists, while start() still waits for it to be ready.
    await eventually(lambda: container_id() is not None, within=120, what="the container")
    assert not start.done()
    created = container_id()
    container = await asyncio.to_thread(docker_client.containers.get, created)
    assert container.labels[LABEL_PROVIDER] == "synthetic"
    await supervisor.stop()
    start.cancel()
    await asyncio.gather(start, return_exceptions=True)
    with pytest.raises(docker.errors.NotFound):
        await asyncio.to_thread(docker_client.containers.get, created)
    assert await asyncio.to_thread(_managed, docker_client, "synthetic") == []


# -- the runtime's logic against a stand-in for the docker SDK client --------------------------


class FakeContainer:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.name = spec["name"]
        self.id = f"id-{self.name}"
        self.status = "running"
        self.removed = False
        self.attrs: dict[str, Any] = {
            "NetworkSettings": {
                "Ports": {"50052/tcp": [{"HostIp": "127.0.0.1", "HostPort": "41234"}]}
            },
            "State": {"ExitCode": 0, "OOMKilled": False},
        }

    def reload(self) -> None:
        import docker.errors

        if self.removed:
            raise docker.errors.NotFound("gone")

    def logs(self, **kwargs: Any) -> Any:
        return iter([b"hello from the container\n"]) if kwargs.get("stream") else b"a\nb\n"

    def stop(self, timeout: int) -> None:
        self.status = "exited"

    def remove(self, force: bool = False) -> None:
        self.removed = True

    def die(self, code: int) -> None:
        self.status = "exited"
        self.attrs["State"] = {"ExitCode": code, "OOMKilled": True}


class FakeClient:
    def __init__(self, have_image: bool) -> None:
        self.have_image = have_image
        self.built: list[dict[str, Any]] = []
        self.run: list[FakeContainer] = []
        self.leftover = FakeContainer({"name": "timebase-synthetic-old"})
        outer = self

        class Images:
            def get(self, tag: str) -> None:
                import docker.errors

                if not outer.have_image:
                    raise docker.errors.ImageNotFound(tag)

            def build(self, **kwargs: Any) -> None:
                outer.built.append(kwargs)

        class Containers:
            def list(self, all: bool, filters: dict[str, Any]) -> list[FakeContainer]:
                assert filters == {
                    "label": ["timebase.provider=synthetic", "timebase.managed=true"]
                }
                return [outer.leftover]

            def run(self, **spec: Any) -> FakeContainer:
                container = FakeContainer(spec)
                outer.run.append(container)
                return container

        self.networks_created: list[dict[str, Any]] = []

        class Network:
            def __init__(self, attrs: dict[str, Any]) -> None:
                self.attrs = attrs

        class Networks:
            def get(self, name: str) -> Network:
                import docker.errors

                for created in outer.networks_created:
                    if created["name"] == name:
                        return Network({"Driver": created["driver"]})
                if name == "host":
                    return Network({"Driver": "host"})
                raise docker.errors.NotFound(name)

            def create(self, name: str, **kwargs: Any) -> Network:
                outer.networks_created.append({"name": name, **kwargs})
                return Network({"Driver": kwargs["driver"]})

        self.images = Images()
        self.containers = Containers()
        self.networks = Networks()


async def test_docker_runtime_logic_with_a_stand_in_client() -> None:
    from timebase.supervisor import DockerRuntime

    client = FakeClient(have_image=False)
    runtime = DockerRuntime(
        "synthetic", BUNDLED / "synthetic", version="1.0.0", options={"a": 1}, client=client
    )
    await runtime.prepare()
    assert client.leftover.removed  # a crashed gateway's container is cleaned up first
    (build,) = client.built
    assert (build["tag"], build["dockerfile"]) == (
        "timebase/provider-synthetic:1.0.0",
        "providers/synthetic/Dockerfile",
    )
    assert await runtime.start() == "127.0.0.1:41234"
    (container,) = client.run
    assert runtime.container_id == container.id
    assert container.spec["read_only"] is True
    # Its own network, created once (a bridge without inter-container traffic), then reused.
    assert container.spec["network"] == "timebase-providers"
    assert client.networks_created == [
        {
            "name": "timebase-providers",
            "driver": "bridge",
            "options": {"com.docker.network.bridge.enable_icc": "false"},
            "labels": {"timebase.network": "providers"},
        }
    ]
    assert await runtime.poll() is None
    assert await runtime.logs() == ["a", "b"]
    container.die(137)
    ended = await runtime.poll()
    assert ended is not None
    assert ended.code == 137
    assert "out of memory" in ended.reason
    await runtime.stop(1.0)
    assert container.removed
    assert runtime.container_id is None
    assert await runtime.poll() is None


async def test_docker_runtime_uses_a_local_image_and_fails_without_one() -> None:
    from timebase.supervisor import DockerRuntime, ProviderStartError

    client = FakeClient(have_image=True)
    runtime = DockerRuntime("synthetic", None, image="mine/syn:dev", client=client)
    await runtime.prepare()
    assert client.built == []
    assert runtime.image == "mine/syn:dev"
    on_host = DockerRuntime("synthetic", None, client=FakeClient(have_image=True), network="host")
    with pytest.raises(ProviderStartError) as info:
        await on_host.prepare()
    assert str(info.value) == (
        "the Docker network host (providers.docker_network) uses the host driver; providers "
        "need a bridge network: name another, or remove it and TimeBase creates one"
    )
    missing = DockerRuntime("synthetic", None, client=FakeClient(have_image=False))
    with pytest.raises(
        ProviderStartError, match="not available locally and there is no Dockerfile"
    ):
        await missing.prepare()
