"""Query API answers (`timebase.gateway.query`) as gRPC messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

from timebase.audit import AuditPage, AuditRecord
from timebase.gateway.query import Health, HealthStatus, ProviderInfo, SymbolProviders
from timebase.provider import provider_pb2 as pb
from timebase.sdk.wire import to_timestamp_pb
from timebase.store.symbols import CatalogSymbol, SymbolPage, SymbolSearch
from timebase.v1 import bars_pb2 as v1

_HEALTH = {
    HealthStatus.HEALTHY: pb.HealthStatus.HEALTHY,
    HealthStatus.DEGRADED: pb.HealthStatus.DEGRADED,
    HealthStatus.UNHEALTHY: pb.HealthStatus.UNHEALTHY,
}


def provider_info(info: ProviderInfo) -> v1.ProviderInfo:
    out = v1.ProviderInfo(
        slug=info.slug,
        status=info.status,
        name=info.name or "",
        version=info.version or "",
        address=info.address or "",
        latency_ms=info.latency_ms or 0.0,
        uptime=info.uptime or 0.0,
        restarts=info.restarts,
        last_error=info.last_error or "",
        circuit=info.circuit,
        intervals=list(info.intervals),
        symbol_patterns=list(info.symbol_patterns),
        supports_historical=info.supports_historical,
        supports_realtime=info.supports_realtime,
        cost=info.cost or "",
        repository=info.repository or "",
        commit=info.commit or "",
    )
    quota = info.quota
    if quota is not None:
        out.quota.requests_per_minute_limit = quota.requests_per_minute_limit or 0
        out.quota.requests_per_day_limit = quota.requests_per_day_limit or 0
        out.quota.requests_this_minute = quota.requests_this_minute
        out.quota.requests_today = quota.requests_today
        if quota.blocked_until is not None:
            out.quota.blocked_until.CopyFrom(to_timestamp_pb(quota.blocked_until))
    return out


def symbol_providers(answer: SymbolProviders) -> v1.GetSymbolProvidersResponse:
    reply = v1.GetSymbolProvidersResponse(symbol=answer.symbol, interval=answer.interval)
    for candidate in answer.candidates:
        ranked = reply.candidates.add(
            slug=candidate.slug,
            rank=candidate.rank,
            derived_from=candidate.derived_from or "",
            reasons=list(candidate.reasons),
        )
        if candidate.latest_stored is not None:
            ranked.latest_stored.CopyFrom(to_timestamp_pb(candidate.latest_stored))
    for excluded in answer.excluded:
        reply.excluded.add(slug=excluded.slug, reason=excluded.reason)
    return reply


def health_status(health: Health) -> pb.HealthStatus:
    return pb.HealthStatus(
        status=_HEALTH[health.status],
        message=health.message,
        timestamp=to_timestamp_pb(datetime.now(UTC)),
        metrics={
            "database": "up" if health.database_up else "down",
            "providers_ready": str(health.providers_ready),
            "providers_total": str(health.providers_total),
        },
    )


def audit_page(page: AuditPage) -> v1.ListAuditEntriesResponse:
    return v1.ListAuditEntriesResponse(
        entries=[audit_entry(r) for r in page.records], next_cursor=page.next_cursor or ""
    )


def audit_entry(record: AuditRecord) -> v1.AuditEntry:
    out = v1.AuditEntry(
        id=record.id or 0,
        time=to_timestamp_pb(record.at),
        key_name=record.key_name or "",
        key_prefix=record.key_prefix or "",
        address=record.address,
        door=record.door,
        action=record.action,
        symbol=record.symbol or "",
        provider=record.provider or "",
        interval=record.interval or "",
        outcome=record.outcome,
        detail_json=json.dumps(record.detail, sort_keys=True, default=str),
    )
    if record.range_start is not None:
        out.range_start.CopyFrom(to_timestamp_pb(record.range_start))
    if record.range_end is not None:
        out.range_end.CopyFrom(to_timestamp_pb(record.range_end))
    if record.rows is not None:
        out.rows = record.rows
    return out


def events(symbol: str, interval: str, table: pa.Table) -> v1.GetEventsResponse:
    """The events of `table` (`timebase.gateway.adjustments.EVENT_SCHEMA`); there are few."""
    out = v1.GetEventsResponse(symbol=symbol, interval=interval)
    for row in table.to_pylist():
        event = out.events.add(provider=row["provider"], kind=row["kind"], value=row["value"])
        event.timestamp.CopyFrom(to_timestamp_pb(row["timestamp"]))
    return out


def symbol_list(symbols: list[CatalogSymbol]) -> pb.SymbolList:
    """The gateway's own GetSymbols answer: the providers' metadata merged, and each symbol's
    providers in metadata["providers"]."""
    return pb.SymbolList(
        symbols=[
            pb.SymbolInfo(
                symbol=s.symbol,
                name=s.name,
                type=s.type,
                intervals=list(s.intervals),
                metadata={**s.metadata, "providers": ",".join(s.providers)},
            )
            for s in symbols
        ]
    )


def catalog_symbol(s: CatalogSymbol) -> v1.CatalogSymbol:
    return v1.CatalogSymbol(
        symbol=s.symbol,
        name=s.name,
        type=s.type,
        providers=list(s.providers),
        intervals=list(s.intervals),
    )


def symbol_page(page: SymbolPage, query: SymbolSearch) -> v1.SearchSymbolsResponse:
    end = query.offset + len(page.symbols)
    return v1.SearchSymbolsResponse(
        symbols=[catalog_symbol(s) for s in page.symbols],
        total=page.total,
        next_offset=end if end < page.total else 0,
    )
