"""The one query API behind every door (gRPC, Flight, REST, WebSocket): `QueryApi`."""

from timebase.gateway.query.api import QueryApi
from timebase.gateway.query.bars import PlannedBars, StoredDataset, read_plan
from timebase.gateway.query.models import (
    ExcludedProvider,
    Health,
    HealthStatus,
    Invalidated,
    ProviderInfo,
    QuotaInfo,
    RankedProvider,
    SymbolProviders,
)

__all__ = [
    "ExcludedProvider",
    "Health",
    "HealthStatus",
    "Invalidated",
    "PlannedBars",
    "ProviderInfo",
    "QueryApi",
    "QuotaInfo",
    "RankedProvider",
    "StoredDataset",
    "SymbolProviders",
    "read_plan",
]
