"""Real-time streaming on the gateway: shared upstream subscriptions and bounded fan-out.

`RealtimeHub` is what the gateway's DataProvider servicer delegates `StreamRealTimeData` to;
see `timebase.gateway.realtime.hub` for the behaviour and the wiring.
"""

from timebase.gateway.realtime.controls import Control, Key, parse_control
from timebase.gateway.realtime.fanout import ClientQueue, ClientSession, Kind
from timebase.gateway.realtime.hub import RealtimeHub
from timebase.gateway.realtime.upstream import Candidates, UpstreamCall, UpstreamTarget
from timebase.gateway.realtime.warnings import is_warning, warning_message, warnings_of
from timebase.gateway.realtime.writer import BarSink, BarWriter
from timebase.sdk.backoff import Backoff

__all__ = [
    "Backoff",
    "BarSink",
    "BarWriter",
    "Candidates",
    "ClientQueue",
    "ClientSession",
    "Control",
    "Key",
    "Kind",
    "RealtimeHub",
    "UpstreamCall",
    "UpstreamTarget",
    "is_warning",
    "parse_control",
    "warning_message",
    "warnings_of",
]
