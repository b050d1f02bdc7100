"""`python -m timebase.sdk.healthcheck`: exit 0 when the provider's gRPC health says SERVING.

Used as the Docker HEALTHCHECK of provider images. Target: ``--target host:port``, else
127.0.0.1 and TIMEBASE_PROVIDER_PORT (default 50052).
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from timebase.sdk.conventions import DEFAULT_PROVIDER_PORT


def check(target: str, timeout: float = 3.0, service: str = "") -> bool:
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            print(f"unhealthy: {exc.code().name}", file=sys.stderr)
            return False
    ok: bool = reply.status == health_pb2.HealthCheckResponse.SERVING
    if not ok:
        print(
            f"unhealthy: {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}",
            file=sys.stderr,
        )
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    port = os.environ.get("TIMEBASE_PROVIDER_PORT", "").strip() or str(DEFAULT_PROVIDER_PORT)
    parser.add_argument("--target", default=f"127.0.0.1:{port}")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    return 0 if check(args.target, args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
