"""Query API answers (`timebase.gateway.query`) as the JSON of the REST door (camelCase)."""

from __future__ import annotations

from typing import Any

from timebase.audit import AuditRecord
from timebase.gateway.query import Health, ProviderInfo, SymbolProviders


def provider(info: ProviderInfo) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "slug": info.slug,
        "name": info.name,
        "version": info.version,
        "status": info.status,
        "address": info.address,
        "latencyMs": info.latency_ms,
        "uptime": info.uptime,
        "restarts": info.restarts,
        "lastError": info.last_error,
        "circuit": info.circuit,
        "intervals": list(info.intervals),
        "symbolPatterns": list(info.symbol_patterns),
        "supportsHistorical": info.supports_historical,
        "supportsRealtime": info.supports_realtime,
        "cost": info.cost,
        "enabled": info.status != "disabled",
        "repository": info.repository,
        "commit": info.commit,
    }
    quota = info.quota
    if quota is not None:
        entry["quota"] = {
            "requestsPerMinuteLimit": quota.requests_per_minute_limit,
            "requestsPerDayLimit": quota.requests_per_day_limit,
            "requestsThisMinute": quota.requests_this_minute,
            "requestsToday": quota.requests_today,
            "blockedUntil": quota.blocked_until,
        }
    return entry


def symbol_providers(answer: SymbolProviders) -> dict[str, Any]:
    return {
        "symbol": answer.symbol,
        "interval": answer.interval,
        "candidates": [
            {
                "slug": c.slug,
                "rank": c.rank,
                "derivedFrom": c.derived_from,
                "latestStored": c.latest_stored,
                "reasons": list(c.reasons),
            }
            for c in answer.candidates
        ],
        "excluded": [{"slug": e.slug, "reason": e.reason} for e in answer.excluded],
    }


def health(answer: Health) -> dict[str, Any]:
    return {
        "database": {"up": answer.database_up, "error": answer.database_error},
        "providers": {
            "ready": answer.providers_ready,
            "total": answer.providers_total,
            "down": list(answer.providers_down),
        },
        "status": answer.status.value,
        "message": answer.message,
    }


def audit_record(record: AuditRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "time": record.at.isoformat(),
        "keyName": record.key_name,
        "keyPrefix": record.key_prefix,
        "address": record.address,
        "door": record.door,
        "action": record.action,
        "symbol": record.symbol,
        "provider": record.provider,
        "interval": record.interval,
        "rangeStart": record.range_start.isoformat() if record.range_start else None,
        "rangeEnd": record.range_end.isoformat() if record.range_end else None,
        "rows": record.rows,
        "outcome": record.outcome,
        "detail": record.detail,
    }
