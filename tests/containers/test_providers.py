"""Every bundled provider's real image under the supervisor's `docker` runtime (real engine).

Each runs hardened (non-root process, read-only root filesystem, no capabilities,
no-new-privileges, memory/CPU/pids limits from the configuration) on the providers' own network
only (a bridge without inter-container traffic, reused across runs), is reached by the gateway on
the host through a port published on 127.0.0.1 only, answers the gRPC health service, and leaves
no container behind once stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.containers import support
from tests.supervisor.conftest import make_config
from timebase.core.config import ProviderSettings
from timebase.supervisor import ProviderStatus, Supervisor
from timebase.supervisor.docker_runtime import DEFAULT_NETWORK, LABEL_MANAGED

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

#: Options a provider needs in a container (local-files serves the image's empty /data).
OPTIONS: dict[str, dict[str, Any]] = {"local-files": {"directory": "/data"}}


async def health(address: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        return int(reply.status)


def inspect(client: Any, container_id: str | None) -> dict[str, Any]:
    """What the test checks of a running provider container (blocking docker calls)."""
    container = client.containers.get(container_id)
    top = container.top(ps_args="-o pid,uid,args")
    return {
        "tags": container.image.tags,
        "host": container.attrs["HostConfig"],
        "provider_uids": [p[1] for p in top["Processes"] if "src/main.py" in p[-1]],
        "exec_uid": container.exec_run(["id", "-u"]).output.decode().strip(),
        "touch_exit": container.exec_run(["touch", "/app/x"]).exit_code,
        "networks": sorted(container.attrs["NetworkSettings"]["Networks"]),
    }


def managed_leftovers(client: Any) -> dict[str, list[str]]:
    return support.labelled(client, f"{LABEL_MANAGED}=true")


async def test_every_bundled_provider_image_runs_hardened(
    docker_client: Any, provider_images: dict[str, str], data_dir: Path
) -> None:
    slugs = tuple(provider_images)
    config = make_config(
        data_dir,
        bundled_dir=support.ROOT / "providers",
        enabled=slugs,
        runtime="docker",
        start_timeout_seconds=60.0,
        settings={
            slug: ProviderSettings(
                options=OPTIONS.get(slug, {}), memory_mb=200, cpus=0.5, pids_limit=64
            )
            for slug in slugs
        },
    )
    supervisor = Supervisor(config)
    supervisor.policy = dataclasses.replace(supervisor.policy, probe_interval=2.0)
    await supervisor.start()
    try:
        for slug in slugs:
            state = await supervisor.wait_ready(slug, within=60)
            assert state.runtime == "docker"
            assert state.address is not None
            assert state.address.startswith("127.0.0.1:"), state.address
            # The gateway on the host reaches it through the loopback-published port.
            assert await health(state.address) == health_pb2.HealthCheckResponse.SERVING, slug

            seen = await asyncio.to_thread(inspect, docker_client, state.container_id)
            assert seen["tags"][0] == provider_images[slug]
            host = seen["host"]
            assert host["ReadonlyRootfs"] is True, slug
            assert host["CapDrop"] == ["ALL"], slug
            assert "no-new-privileges:true" in host["SecurityOpt"], slug
            assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (
                200 << 20,
                5 * 10**8,
                64,
            ), slug
            bindings = host["PortBindings"]["50052/tcp"]
            assert [b["HostIp"] for b in bindings] == ["127.0.0.1"], slug
            # The provider's own process (pid 1 is the init docker adds) is not root.
            assert seen["provider_uids"], seen
            assert "0" not in seen["provider_uids"], (slug, seen)
            assert seen["exec_uid"] not in ("", "0"), slug
            # The root filesystem is really read-only for it.
            assert seen["touch_exit"] != 0, slug
            # Its own network only: not Docker's default bridge, where other containers live.
            assert seen["networks"] == [DEFAULT_NETWORK], slug
    finally:
        await supervisor.stop()
    for slug in slugs:
        assert supervisor.get(slug).status is ProviderStatus.STOPPED
    network = await asyncio.to_thread(docker_client.networks.get, DEFAULT_NETWORK)
    assert network.attrs["Driver"] == "bridge"
    assert network.attrs["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert network.attrs["Labels"] == {"timebase.network": "providers"}
    assert await asyncio.to_thread(managed_leftovers, docker_client) == {
        "containers": [],
        "networks": [],
        "volumes": [],
    }
