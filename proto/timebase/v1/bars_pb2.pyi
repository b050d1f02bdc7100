import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetBarsRequest(_message.Message):
    __slots__ = ("symbol", "interval", "start_time", "end_time", "limit", "provider", "refresh", "adjust")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REFRESH_FIELD_NUMBER: _ClassVar[int]
    ADJUST_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    interval: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    limit: int
    provider: str
    refresh: bool
    adjust: str
    def __init__(self, symbol: _Optional[str] = ..., interval: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ..., provider: _Optional[str] = ..., refresh: _Optional[bool] = ..., adjust: _Optional[str] = ...) -> None: ...

class GetEventsRequest(_message.Message):
    __slots__ = ("symbol", "interval", "start_time", "end_time", "provider")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    interval: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    provider: str
    def __init__(self, symbol: _Optional[str] = ..., interval: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provider: _Optional[str] = ...) -> None: ...

class GetEventsResponse(_message.Message):
    __slots__ = ("symbol", "interval", "events")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    interval: str
    events: _containers.RepeatedCompositeFieldContainer[CorporateEvent]
    def __init__(self, symbol: _Optional[str] = ..., interval: _Optional[str] = ..., events: _Optional[_Iterable[_Union[CorporateEvent, _Mapping]]] = ...) -> None: ...

class CorporateEvent(_message.Message):
    __slots__ = ("timestamp", "provider", "kind", "value")
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    timestamp: _timestamp_pb2.Timestamp
    provider: str
    kind: str
    value: float
    def __init__(self, timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provider: _Optional[str] = ..., kind: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class GetBarsResponse(_message.Message):
    __slots__ = ("symbol", "interval", "provider", "timestamps_us", "open", "high", "low", "close", "volume", "metadata")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_US_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    interval: str
    provider: str
    timestamps_us: _containers.RepeatedScalarFieldContainer[int]
    open: _containers.RepeatedScalarFieldContainer[float]
    high: _containers.RepeatedScalarFieldContainer[float]
    low: _containers.RepeatedScalarFieldContainer[float]
    close: _containers.RepeatedScalarFieldContainer[float]
    volume: _containers.RepeatedScalarFieldContainer[float]
    metadata: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, symbol: _Optional[str] = ..., interval: _Optional[str] = ..., provider: _Optional[str] = ..., timestamps_us: _Optional[_Iterable[int]] = ..., open: _Optional[_Iterable[float]] = ..., high: _Optional[_Iterable[float]] = ..., low: _Optional[_Iterable[float]] = ..., close: _Optional[_Iterable[float]] = ..., volume: _Optional[_Iterable[float]] = ..., metadata: _Optional[_Iterable[str]] = ...) -> None: ...

class ListProvidersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListProvidersResponse(_message.Message):
    __slots__ = ("providers",)
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderInfo]
    def __init__(self, providers: _Optional[_Iterable[_Union[ProviderInfo, _Mapping]]] = ...) -> None: ...

class ProviderInfo(_message.Message):
    __slots__ = ("slug", "name", "version", "status", "address", "intervals", "symbol_patterns", "supports_historical", "supports_realtime", "latency_ms", "uptime", "restarts", "last_error", "cost", "quota", "circuit", "repository", "commit")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_PATTERNS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_HISTORICAL_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_REALTIME_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    UPTIME_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    slug: str
    name: str
    version: str
    status: str
    address: str
    intervals: _containers.RepeatedScalarFieldContainer[str]
    symbol_patterns: _containers.RepeatedScalarFieldContainer[str]
    supports_historical: bool
    supports_realtime: bool
    latency_ms: float
    uptime: float
    restarts: int
    last_error: str
    cost: str
    quota: ProviderQuota
    circuit: str
    repository: str
    commit: str
    def __init__(self, slug: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., status: _Optional[str] = ..., address: _Optional[str] = ..., intervals: _Optional[_Iterable[str]] = ..., symbol_patterns: _Optional[_Iterable[str]] = ..., supports_historical: _Optional[bool] = ..., supports_realtime: _Optional[bool] = ..., latency_ms: _Optional[float] = ..., uptime: _Optional[float] = ..., restarts: _Optional[int] = ..., last_error: _Optional[str] = ..., cost: _Optional[str] = ..., quota: _Optional[_Union[ProviderQuota, _Mapping]] = ..., circuit: _Optional[str] = ..., repository: _Optional[str] = ..., commit: _Optional[str] = ...) -> None: ...

class ProviderQuota(_message.Message):
    __slots__ = ("requests_per_minute_limit", "requests_this_minute", "requests_per_day_limit", "requests_today", "blocked_until")
    REQUESTS_PER_MINUTE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_THIS_MINUTE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_DAY_LIMIT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_TODAY_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_UNTIL_FIELD_NUMBER: _ClassVar[int]
    requests_per_minute_limit: int
    requests_this_minute: int
    requests_per_day_limit: int
    requests_today: int
    blocked_until: _timestamp_pb2.Timestamp
    def __init__(self, requests_per_minute_limit: _Optional[int] = ..., requests_this_minute: _Optional[int] = ..., requests_per_day_limit: _Optional[int] = ..., requests_today: _Optional[int] = ..., blocked_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetSymbolProvidersRequest(_message.Message):
    __slots__ = ("symbol", "interval")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    interval: str
    def __init__(self, symbol: _Optional[str] = ..., interval: _Optional[str] = ...) -> None: ...

class GetSymbolProvidersResponse(_message.Message):
    __slots__ = ("symbol", "interval", "candidates", "excluded")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDED_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    interval: str
    candidates: _containers.RepeatedCompositeFieldContainer[RankedProvider]
    excluded: _containers.RepeatedCompositeFieldContainer[ExcludedProvider]
    def __init__(self, symbol: _Optional[str] = ..., interval: _Optional[str] = ..., candidates: _Optional[_Iterable[_Union[RankedProvider, _Mapping]]] = ..., excluded: _Optional[_Iterable[_Union[ExcludedProvider, _Mapping]]] = ...) -> None: ...

class RankedProvider(_message.Message):
    __slots__ = ("slug", "rank", "derived_from", "latest_stored", "reasons")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    DERIVED_FROM_FIELD_NUMBER: _ClassVar[int]
    LATEST_STORED_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    slug: str
    rank: int
    derived_from: str
    latest_stored: _timestamp_pb2.Timestamp
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, slug: _Optional[str] = ..., rank: _Optional[int] = ..., derived_from: _Optional[str] = ..., latest_stored: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class ExcludedProvider(_message.Message):
    __slots__ = ("slug", "reason")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    slug: str
    reason: str
    def __init__(self, slug: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class InvalidateRangeRequest(_message.Message):
    __slots__ = ("symbol", "interval", "start_time", "end_time", "provider")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    interval: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    provider: str
    def __init__(self, symbol: _Optional[str] = ..., interval: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., provider: _Optional[str] = ...) -> None: ...

class InvalidateRangeResponse(_message.Message):
    __slots__ = ("deleted", "providers", "kept")
    DELETED_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    KEPT_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    providers: _containers.RepeatedScalarFieldContainer[str]
    kept: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, deleted: _Optional[int] = ..., providers: _Optional[_Iterable[str]] = ..., kept: _Optional[_Iterable[str]] = ...) -> None: ...

class InstallProviderRequest(_message.Message):
    __slots__ = ("folder", "repository", "slug")
    FOLDER_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    folder: str
    repository: str
    slug: str
    def __init__(self, folder: _Optional[str] = ..., repository: _Optional[str] = ..., slug: _Optional[str] = ...) -> None: ...

class InstallProviderResponse(_message.Message):
    __slots__ = ("provider",)
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: ProviderInfo
    def __init__(self, provider: _Optional[_Union[ProviderInfo, _Mapping]] = ...) -> None: ...

class RemoveProviderRequest(_message.Message):
    __slots__ = ("slug",)
    SLUG_FIELD_NUMBER: _ClassVar[int]
    slug: str
    def __init__(self, slug: _Optional[str] = ...) -> None: ...

class RemoveProviderResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateProviderRequest(_message.Message):
    __slots__ = ("slug",)
    SLUG_FIELD_NUMBER: _ClassVar[int]
    slug: str
    def __init__(self, slug: _Optional[str] = ...) -> None: ...

class UpdateProviderResponse(_message.Message):
    __slots__ = ("provider",)
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: ProviderInfo
    def __init__(self, provider: _Optional[_Union[ProviderInfo, _Mapping]] = ...) -> None: ...

class SetProviderEnabledRequest(_message.Message):
    __slots__ = ("slug", "enabled")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    slug: str
    enabled: bool
    def __init__(self, slug: _Optional[str] = ..., enabled: _Optional[bool] = ...) -> None: ...

class SetProviderEnabledResponse(_message.Message):
    __slots__ = ("provider",)
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: ProviderInfo
    def __init__(self, provider: _Optional[_Union[ProviderInfo, _Mapping]] = ...) -> None: ...

class RefreshProviderRequest(_message.Message):
    __slots__ = ("slug",)
    SLUG_FIELD_NUMBER: _ClassVar[int]
    slug: str
    def __init__(self, slug: _Optional[str] = ...) -> None: ...

class RefreshProviderResponse(_message.Message):
    __slots__ = ("provider",)
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: ProviderInfo
    def __init__(self, provider: _Optional[_Union[ProviderInfo, _Mapping]] = ...) -> None: ...

class ListAuditEntriesRequest(_message.Message):
    __slots__ = ("limit", "cursor", "action", "key_name", "door", "symbol", "provider", "outcome", "since", "until")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    DOOR_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    limit: int
    cursor: str
    action: str
    key_name: str
    door: str
    symbol: str
    provider: str
    outcome: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    def __init__(self, limit: _Optional[int] = ..., cursor: _Optional[str] = ..., action: _Optional[str] = ..., key_name: _Optional[str] = ..., door: _Optional[str] = ..., symbol: _Optional[str] = ..., provider: _Optional[str] = ..., outcome: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAuditEntriesResponse(_message.Message):
    __slots__ = ("entries", "next_cursor")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AuditEntry]
    next_cursor: str
    def __init__(self, entries: _Optional[_Iterable[_Union[AuditEntry, _Mapping]]] = ..., next_cursor: _Optional[str] = ...) -> None: ...

class AuditEntry(_message.Message):
    __slots__ = ("id", "time", "key_name", "key_prefix", "address", "door", "action", "symbol", "provider", "interval", "range_start", "range_end", "rows", "outcome", "detail_json")
    ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    KEY_NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_PREFIX_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DOOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    RANGE_START_FIELD_NUMBER: _ClassVar[int]
    RANGE_END_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    id: int
    time: _timestamp_pb2.Timestamp
    key_name: str
    key_prefix: str
    address: str
    door: str
    action: str
    symbol: str
    provider: str
    interval: str
    range_start: _timestamp_pb2.Timestamp
    range_end: _timestamp_pb2.Timestamp
    rows: int
    outcome: str
    detail_json: str
    def __init__(self, id: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., key_name: _Optional[str] = ..., key_prefix: _Optional[str] = ..., address: _Optional[str] = ..., door: _Optional[str] = ..., action: _Optional[str] = ..., symbol: _Optional[str] = ..., provider: _Optional[str] = ..., interval: _Optional[str] = ..., range_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., range_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rows: _Optional[int] = ..., outcome: _Optional[str] = ..., detail_json: _Optional[str] = ...) -> None: ...

class SearchSymbolsRequest(_message.Message):
    __slots__ = ("query", "type", "provider", "limit", "offset")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    query: str
    type: str
    provider: str
    limit: int
    offset: int
    def __init__(self, query: _Optional[str] = ..., type: _Optional[str] = ..., provider: _Optional[str] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class SearchSymbolsResponse(_message.Message):
    __slots__ = ("symbols", "total", "next_offset")
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedCompositeFieldContainer[CatalogSymbol]
    total: int
    next_offset: int
    def __init__(self, symbols: _Optional[_Iterable[_Union[CatalogSymbol, _Mapping]]] = ..., total: _Optional[int] = ..., next_offset: _Optional[int] = ...) -> None: ...

class CatalogSymbol(_message.Message):
    __slots__ = ("symbol", "name", "type", "providers", "intervals")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    name: str
    type: str
    providers: _containers.RepeatedScalarFieldContainer[str]
    intervals: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, symbol: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[str] = ..., providers: _Optional[_Iterable[str]] = ..., intervals: _Optional[_Iterable[str]] = ...) -> None: ...

class RefreshSymbolsRequest(_message.Message):
    __slots__ = ("provider",)
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    provider: str
    def __init__(self, provider: _Optional[str] = ...) -> None: ...

class RefreshSymbolsResponse(_message.Message):
    __slots__ = ("symbols",)
    class SymbolsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.ScalarMap[str, int]
    def __init__(self, symbols: _Optional[_Mapping[str, int]] = ...) -> None: ...

class ListWatchlistsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWatchlistsResponse(_message.Message):
    __slots__ = ("watchlists",)
    WATCHLISTS_FIELD_NUMBER: _ClassVar[int]
    watchlists: _containers.RepeatedCompositeFieldContainer[WatchlistStatus]
    def __init__(self, watchlists: _Optional[_Iterable[_Union[WatchlistStatus, _Mapping]]] = ...) -> None: ...

class WatchlistStatus(_message.Message):
    __slots__ = ("name", "symbols", "intervals", "lookback_days", "schedule", "provider", "running", "items_total", "items_done", "runs", "last_result", "last_start", "last_end", "next_run", "quota_skips", "error_skips", "items")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    LOOKBACK_DAYS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    ITEMS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ITEMS_DONE_FIELD_NUMBER: _ClassVar[int]
    RUNS_FIELD_NUMBER: _ClassVar[int]
    LAST_RESULT_FIELD_NUMBER: _ClassVar[int]
    LAST_START_FIELD_NUMBER: _ClassVar[int]
    LAST_END_FIELD_NUMBER: _ClassVar[int]
    NEXT_RUN_FIELD_NUMBER: _ClassVar[int]
    QUOTA_SKIPS_FIELD_NUMBER: _ClassVar[int]
    ERROR_SKIPS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    name: str
    symbols: _containers.RepeatedScalarFieldContainer[str]
    intervals: _containers.RepeatedScalarFieldContainer[str]
    lookback_days: int
    schedule: str
    provider: str
    running: bool
    items_total: int
    items_done: int
    runs: int
    last_result: str
    last_start: _timestamp_pb2.Timestamp
    last_end: _timestamp_pb2.Timestamp
    next_run: _timestamp_pb2.Timestamp
    quota_skips: int
    error_skips: int
    items: _containers.RepeatedCompositeFieldContainer[WatchlistItem]
    def __init__(self, name: _Optional[str] = ..., symbols: _Optional[_Iterable[str]] = ..., intervals: _Optional[_Iterable[str]] = ..., lookback_days: _Optional[int] = ..., schedule: _Optional[str] = ..., provider: _Optional[str] = ..., running: _Optional[bool] = ..., items_total: _Optional[int] = ..., items_done: _Optional[int] = ..., runs: _Optional[int] = ..., last_result: _Optional[str] = ..., last_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_run: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., quota_skips: _Optional[int] = ..., error_skips: _Optional[int] = ..., items: _Optional[_Iterable[_Union[WatchlistItem, _Mapping]]] = ...) -> None: ...

class WatchlistItem(_message.Message):
    __slots__ = ("symbol", "interval", "status", "message", "last_run", "latest_bar")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_FIELD_NUMBER: _ClassVar[int]
    LATEST_BAR_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    interval: str
    status: str
    message: str
    last_run: _timestamp_pb2.Timestamp
    latest_bar: _timestamp_pb2.Timestamp
    def __init__(self, symbol: _Optional[str] = ..., interval: _Optional[str] = ..., status: _Optional[str] = ..., message: _Optional[str] = ..., last_run: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latest_bar: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetSummaryRequest(_message.Message):
    __slots__ = ("symbol",)
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    def __init__(self, symbol: _Optional[str] = ...) -> None: ...

class GetSummaryResponse(_message.Message):
    __slots__ = ("symbol", "total_bars", "earliest", "latest", "providers", "intervals", "series")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BARS_FIELD_NUMBER: _ClassVar[int]
    EARLIEST_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    total_bars: int
    earliest: _timestamp_pb2.Timestamp
    latest: _timestamp_pb2.Timestamp
    providers: _containers.RepeatedScalarFieldContainer[str]
    intervals: _containers.RepeatedScalarFieldContainer[str]
    series: _containers.RepeatedCompositeFieldContainer[StoredSeries]
    def __init__(self, symbol: _Optional[str] = ..., total_bars: _Optional[int] = ..., earliest: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latest: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., providers: _Optional[_Iterable[str]] = ..., intervals: _Optional[_Iterable[str]] = ..., series: _Optional[_Iterable[_Union[StoredSeries, _Mapping]]] = ...) -> None: ...

class StoredSeries(_message.Message):
    __slots__ = ("interval", "provider", "count", "earliest", "latest", "covered", "calendar", "gaps", "closed", "gaps_truncated", "closed_truncated")
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    EARLIEST_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    COVERED_FIELD_NUMBER: _ClassVar[int]
    CALENDAR_FIELD_NUMBER: _ClassVar[int]
    GAPS_FIELD_NUMBER: _ClassVar[int]
    CLOSED_FIELD_NUMBER: _ClassVar[int]
    GAPS_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    CLOSED_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    interval: str
    provider: str
    count: int
    earliest: _timestamp_pb2.Timestamp
    latest: _timestamp_pb2.Timestamp
    covered: _containers.RepeatedCompositeFieldContainer[CoveredRange]
    calendar: str
    gaps: _containers.RepeatedCompositeFieldContainer[CoveredRange]
    closed: _containers.RepeatedCompositeFieldContainer[CoveredRange]
    gaps_truncated: bool
    closed_truncated: bool
    def __init__(self, interval: _Optional[str] = ..., provider: _Optional[str] = ..., count: _Optional[int] = ..., earliest: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., latest: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., covered: _Optional[_Iterable[_Union[CoveredRange, _Mapping]]] = ..., calendar: _Optional[str] = ..., gaps: _Optional[_Iterable[_Union[CoveredRange, _Mapping]]] = ..., closed: _Optional[_Iterable[_Union[CoveredRange, _Mapping]]] = ..., gaps_truncated: _Optional[bool] = ..., closed_truncated: _Optional[bool] = ...) -> None: ...

class CoveredRange(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
