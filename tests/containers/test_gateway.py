"""The gateway image (gateway/Dockerfile), run hardened against a database container.

A user network holds a PostgreSQL container (`db`), the bundled providers' containers (named as
gateway/compose.timebase.yaml addresses them) and the gateway, whose gRPC
port is published on 127.0.0.1 only. From the host: health SERVING, then bars of SYN:ACME
fetched through the gateway from the provider container and stored in the database container.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.containers import support
from timebase.provider import provider_pb2 as pb
from timebase.provider import provider_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.docker, pytest.mark.timeout(900)]

HARDENED: dict[str, Any] = {
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
    "tmpfs": {"/tmp": "rw,noexec,nosuid,size=64m"},
}


async def wait_serving(address: str, within: float) -> None:
    """Until the gRPC health service at `address` says SERVING (AssertionError after `within`)."""
    deadline = time.monotonic() + within
    last: object = None
    while time.monotonic() < deadline:
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=3)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
            last = reply.status
        except grpc.aio.AioRpcError as exc:
            last = exc.code()
        await asyncio.sleep(0.5)
    raise AssertionError(f"{address} not SERVING within {within} s (last: {last})")


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


async def synthetic_bars(address: str, api_key: str | None = None) -> list[pb.TimeSeriesData]:
    """Ten daily bars of SYN:ACME through the federated DataProvider service at `address`
    (sending `api_key` when the gateway has keys on)."""
    metadata = (("authorization", f"Bearer {api_key}"),) if api_key else ()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.DataProviderStub(channel)
        request = pb.HistoricalDataRequest(
            symbol="SYN:ACME",
            interval="1d",
            start_time=_ts(datetime(2024, 1, 1, tzinfo=UTC)),
            end_time=_ts(datetime(2024, 1, 11, tzinfo=UTC)),
        )
        call = stub.GetHistoricalData(request, timeout=60, metadata=metadata)
        return [bar async for bar in call]


def start_stack(client: Any, label: str, images: dict[str, str]) -> tuple[str, list[Any]]:
    """db + synthetic + gateway on one labelled network; returns (gateway address, containers)."""
    key, value = label.split("=", 1)
    labels = {key: value}
    network = client.networks.create(support.unique("timebase-test"), labels=labels)
    started: list[Any] = []

    def run(image: str, alias: str, **kwargs: Any) -> Any:
        container = client.containers.create(
            image, name=support.unique(f"timebase-test-{alias}"), labels=labels, **kwargs
        )
        client.api.disconnect_container_from_network(container.id, "bridge")
        network.connect(container, aliases=[alias])
        container.start()
        started.append(container)
        return container

    db = run(
        images["postgres"],
        "db",
        environment={
            "POSTGRES_USER": "timebase",
            "POSTGRES_PASSWORD": "s3cret",
            "POSTGRES_DB": "timebase",
        },
    )
    deadline = time.monotonic() + 60
    while db.exec_run(["pg_isready", "-U", "timebase", "-d", "timebase"]).exit_code != 0:
        db.reload()
        assert db.status == "running", db.logs().decode()
        assert time.monotonic() < deadline, db.logs().decode()
        time.sleep(0.5)
    for slug in support.PROVIDER_SLUGS:  # every address of gateway/compose.timebase.yaml
        run(images[slug], slug, user="10001", mem_limit="256m", pids_limit=256, **HARDENED)
    gateway = run(
        images["gateway"],
        "gateway",
        user="10001",
        environment={
            "TIMEBASE_DATABASE_URL": "postgresql://timebase:s3cret@db:5432/timebase",
            "TIMEBASE_CONFIG": "/etc/timebase/timebase.yaml",
            # The image listens on every address of its container: without keys it must be
            # told so explicitly (the compose stack test runs it with keys on).
            "TIMEBASE_AUTH_MODE": "none",
        },
        ports={"50051/tcp": ("127.0.0.1", None)},
        mem_limit="512m",
        **HARDENED,
    )
    deadline = time.monotonic() + 30
    while True:
        gateway.reload()
        bindings = gateway.attrs["NetworkSettings"]["Ports"].get("50051/tcp") or []
        if bindings:
            assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
            return f"127.0.0.1:{bindings[0]['HostPort']}", started
        assert gateway.status == "running", gateway.logs().decode()
        assert time.monotonic() < deadline, "the gateway published no port"
        time.sleep(0.2)


def inspect_gateway(container: Any) -> dict[str, Any]:
    container.reload()
    processes = []
    if container.status == "running":
        processes = container.top(ps_args="-o pid,uid,args")["Processes"]
    return {
        "status": container.status,
        "uids": [p[1] for p in processes if "timebase" in p[-1]],
        "host": container.attrs["HostConfig"],
        "logs": container.logs(tail=60).decode(errors="replace"),
    }


async def test_gateway_image_runs_against_a_database_container(
    docker_client: Any,
    provider_images: dict[str, str],
    gateway_image: str,
    postgres_image: str,
    test_label: str,
) -> None:
    images = {**provider_images, "postgres": postgres_image, "gateway": gateway_image}
    address, containers = await asyncio.to_thread(start_stack, docker_client, test_label, images)
    gateway = containers[-1]
    try:
        await wait_serving(address, within=90)
    except AssertionError:
        seen = await asyncio.to_thread(inspect_gateway, gateway)
        raise AssertionError(
            f"gateway {seen['status']}, not serving; log:\n{seen['logs']}"
        ) from None
    seen = await asyncio.to_thread(inspect_gateway, gateway)
    assert seen["uids"], seen
    assert "0" not in seen["uids"], seen
    assert seen["host"]["ReadonlyRootfs"] is True
    assert seen["host"]["CapDrop"] == ["ALL"]

    # Fetched from the provider container, stored in the database container, served back.
    bars = await synthetic_bars(address)
    assert len(bars) == 10, seen["logs"]
    assert [b.symbol for b in bars] == ["SYN:ACME"] * 10
    again = await synthetic_bars(address)
    assert [(b.timestamp, b.close) for b in again] == [(b.timestamp, b.close) for b in bars]
