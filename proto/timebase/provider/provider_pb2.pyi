import datetime

from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TimeSeriesData(_message.Message):
    __slots__ = ("symbol", "timestamp", "open", "high", "low", "close", "volume", "interval", "provider", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    OPEN_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    CLOSE_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    timestamp: _timestamp_pb2.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float
    interval: str
    provider: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, symbol: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., open: _Optional[float] = ..., high: _Optional[float] = ..., low: _Optional[float] = ..., close: _Optional[float] = ..., volume: _Optional[float] = ..., interval: _Optional[str] = ..., provider: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ProviderCapabilities(_message.Message):
    __slots__ = ("name", "version", "slug", "supports_historical", "supports_realtime", "supports_backfill", "data_types", "intervals", "rate_limits", "max_lookback_days")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SLUG_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_HISTORICAL_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_REALTIME_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_BACKFILL_FIELD_NUMBER: _ClassVar[int]
    DATA_TYPES_FIELD_NUMBER: _ClassVar[int]
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMITS_FIELD_NUMBER: _ClassVar[int]
    MAX_LOOKBACK_DAYS_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    slug: str
    supports_historical: bool
    supports_realtime: bool
    supports_backfill: bool
    data_types: _containers.RepeatedScalarFieldContainer[str]
    intervals: _containers.RepeatedScalarFieldContainer[str]
    rate_limits: RateLimits
    max_lookback_days: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., slug: _Optional[str] = ..., supports_historical: _Optional[bool] = ..., supports_realtime: _Optional[bool] = ..., supports_backfill: _Optional[bool] = ..., data_types: _Optional[_Iterable[str]] = ..., intervals: _Optional[_Iterable[str]] = ..., rate_limits: _Optional[_Union[RateLimits, _Mapping]] = ..., max_lookback_days: _Optional[int] = ...) -> None: ...

class RateLimits(_message.Message):
    __slots__ = ("requests_per_minute", "requests_per_day")
    REQUESTS_PER_MINUTE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_DAY_FIELD_NUMBER: _ClassVar[int]
    requests_per_minute: int
    requests_per_day: int
    def __init__(self, requests_per_minute: _Optional[int] = ..., requests_per_day: _Optional[int] = ...) -> None: ...

class HistoricalDataRequest(_message.Message):
    __slots__ = ("symbol", "interval", "start_time", "end_time", "limit", "provider", "refresh")
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    REFRESH_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    interval: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    limit: int
    provider: str
    refresh: bool
    def __init__(self, symbol: _Optional[str] = ..., interval: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ..., provider: _Optional[str] = ..., refresh: _Optional[bool] = ...) -> None: ...

class StreamControl(_message.Message):
    __slots__ = ("action", "symbol", "interval", "options")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        SUBSCRIBE: _ClassVar[StreamControl.Action]
        UNSUBSCRIBE: _ClassVar[StreamControl.Action]
        PAUSE: _ClassVar[StreamControl.Action]
        RESUME: _ClassVar[StreamControl.Action]
    SUBSCRIBE: StreamControl.Action
    UNSUBSCRIBE: StreamControl.Action
    PAUSE: StreamControl.Action
    RESUME: StreamControl.Action
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ACTION_FIELD_NUMBER: _ClassVar[int]
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    action: StreamControl.Action
    symbol: str
    interval: str
    options: _containers.ScalarMap[str, str]
    def __init__(self, action: _Optional[_Union[StreamControl.Action, str]] = ..., symbol: _Optional[str] = ..., interval: _Optional[str] = ..., options: _Optional[_Mapping[str, str]] = ...) -> None: ...

class HealthStatus(_message.Message):
    __slots__ = ("status", "message", "timestamp", "metrics")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        HEALTHY: _ClassVar[HealthStatus.Status]
        DEGRADED: _ClassVar[HealthStatus.Status]
        UNHEALTHY: _ClassVar[HealthStatus.Status]
    HEALTHY: HealthStatus.Status
    DEGRADED: HealthStatus.Status
    UNHEALTHY: HealthStatus.Status
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    status: HealthStatus.Status
    message: str
    timestamp: _timestamp_pb2.Timestamp
    metrics: _containers.ScalarMap[str, str]
    def __init__(self, status: _Optional[_Union[HealthStatus.Status, str]] = ..., message: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., metrics: _Optional[_Mapping[str, str]] = ...) -> None: ...

class BarChunk(_message.Message):
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

class SymbolInfo(_message.Message):
    __slots__ = ("symbol", "name", "type", "intervals", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SYMBOL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    symbol: str
    name: str
    type: str
    intervals: _containers.RepeatedScalarFieldContainer[str]
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, symbol: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[str] = ..., intervals: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SymbolList(_message.Message):
    __slots__ = ("symbols",)
    SYMBOLS_FIELD_NUMBER: _ClassVar[int]
    symbols: _containers.RepeatedCompositeFieldContainer[SymbolInfo]
    def __init__(self, symbols: _Optional[_Iterable[_Union[SymbolInfo, _Mapping]]] = ...) -> None: ...
