from tests.sdk.grpc_support import _grpc_aio_kept_alive

__all__ = ["_grpc_aio_kept_alive"]
