"""The gRPC door: `timebase.v1.GatewayService` and the `timebase.provider.DataProvider` contract
served over the core (`GrpcServer`), with the one gRPC error boundary (`timebase.grpc.errors`)."""

from timebase.grpc.server import GrpcServer

__all__ = ["GrpcServer"]
