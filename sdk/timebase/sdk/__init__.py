"""TimeBase provider SDK: write a `Provider` subclass, describe it in config.yaml, `serve()` it.

Importing it needs only the base install (grpcio, protobuf, pyyaml); pyarrow is imported lazily
when a provider yields Arrow record batches. The contract-test kit is `timebase.sdk.testing`.
"""

from timebase.sdk.errors import (
    AuthFailed,
    ErrorKind,
    InvalidArgument,
    NotSupported,
    ProviderError,
    RateLimited,
    SymbolNotFound,
    TimeBaseError,
    UpstreamUnavailable,
)
from timebase.sdk.manifest import (
    Capabilities,
    Manifest,
    RateLimits,
    load_manifest,
    parse_manifest,
)
from timebase.sdk.options import Options, OptionSpec
from timebase.sdk.process import serve
from timebase.sdk.provider import (
    Bar,
    HealthReport,
    HealthState,
    Provider,
    RealTimeBar,
    Subscription,
    Subscriptions,
    SymbolInfo,
    batch_schema,
)
from timebase.sdk.ratelimit import RateLimiter, TokenBucket
from timebase.sdk.retry import retry
from timebase.sdk.server import ProviderServer
from timebase.sdk.status import retry_after_from_metadata

__all__ = [
    "AuthFailed",
    "Bar",
    "Capabilities",
    "ErrorKind",
    "HealthReport",
    "HealthState",
    "InvalidArgument",
    "Manifest",
    "NotSupported",
    "OptionSpec",
    "Options",
    "Provider",
    "ProviderError",
    "ProviderServer",
    "RateLimited",
    "RateLimiter",
    "RateLimits",
    "RealTimeBar",
    "Subscription",
    "Subscriptions",
    "SymbolInfo",
    "SymbolNotFound",
    "TimeBaseError",
    "TokenBucket",
    "UpstreamUnavailable",
    "batch_schema",
    "load_manifest",
    "parse_manifest",
    "retry",
    "retry_after_from_metadata",
    "serve",
]
