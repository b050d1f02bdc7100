"""Client controls of a real-time stream: parsed and checked `StreamControl` messages.

A SUBSCRIBE names a symbol and an interval (both required); UNSUBSCRIBE names a symbol and
optionally an interval (empty: every interval of the symbol, as SDK providers do); PAUSE and
RESUME name nothing (the whole stream), a symbol (every interval of it) or a symbol and an
interval. Symbols are case-insensitive on input and upper-cased. A bad control raises
`InvalidRequestError` whose message starts with the field name (``symbol: …``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from timebase.gateway.bar_request import check_interval as _check_interval
from timebase.gateway.bar_request import check_symbol
from timebase.provider import provider_pb2 as pb
from timebase.sdk.errors import InvalidRequestError

#: (symbol, interval): what one upstream subscription and one client subscription are keyed by.
Key = tuple[str, str]


class Action(enum.Enum):
    SUBSCRIBE = pb.StreamControl.SUBSCRIBE
    UNSUBSCRIBE = pb.StreamControl.UNSUBSCRIBE
    PAUSE = pb.StreamControl.PAUSE
    RESUME = pb.StreamControl.RESUME


@dataclass(frozen=True)
class Control:
    """A checked control. `symbol`/`interval` are "" where the control leaves them open."""

    action: Action
    symbol: str = ""
    interval: str = ""
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def key(self) -> Key:
        return (self.symbol, self.interval)


def check_interval(raw: str) -> str:
    """The interval's name, or InvalidIntervalError naming the field (as historical requests)."""
    return _check_interval(raw).value


def parse_control(msg: pb.StreamControl) -> Control:
    """Check one `StreamControl`; InvalidRequestError names the bad field."""
    try:
        action = Action(msg.action)
    except ValueError:
        raise InvalidRequestError(
            f"action: unknown action {msg.action}; expected SUBSCRIBE, UNSUBSCRIBE, PAUSE or RESUME",
            field="action",
        ) from None
    if action is Action.SUBSCRIBE:
        return Control(
            action, check_symbol(msg.symbol), check_interval(msg.interval), dict(msg.options)
        )
    if action is Action.UNSUBSCRIBE:
        symbol = check_symbol(msg.symbol)
        return Control(action, symbol, check_interval(msg.interval) if msg.interval else "")
    # PAUSE / RESUME: everything optional, but an interval needs a symbol.
    if not msg.symbol.strip():
        if msg.interval:
            raise InvalidRequestError("symbol: required when an interval is given", field="symbol")
        return Control(action)
    return Control(
        action,
        check_symbol(msg.symbol),
        check_interval(msg.interval) if msg.interval else "",
    )
