"""Client controls of a real-time stream: parsed and checked `StreamControl` messages.

A SUBSCRIBE names a symbol and an interval (both required); UNSUBSCRIBE names a symbol and
optionally an interval (empty: every interval of the symbol, as SDK providers do); PAUSE and
RESUME name nothing (the whole stream), a symbol (every interval of it) or a symbol and an
interval. Symbols are case-insensitive on input and upper-cased. A bad control raises
`InvalidRequestError` whose message starts with the field name (``symbol: …``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from timebase.core.errors import InvalidIntervalError, InvalidRequestError
from timebase.core.intervals import Interval
from timebase.provider import provider_pb2 as pb

#: Longest symbol accepted (generous: `EURUSD=X`, `SYN:ACME`, option tickers).
MAX_SYMBOL_LENGTH = 64
SYMBOL_RE = re.compile(r"[A-Za-z0-9.\-^=:_]+")

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


def check_symbol(raw: str, field_name: str = "symbol") -> str:
    """The symbol upper-cased, or InvalidRequestError naming `field_name`."""
    symbol = raw.strip()
    if not symbol:
        raise InvalidRequestError(f"{field_name}: must not be empty", field=field_name)
    if len(symbol) > MAX_SYMBOL_LENGTH:
        raise InvalidRequestError(
            f"{field_name}: longer than {MAX_SYMBOL_LENGTH} characters", field=field_name
        )
    if not SYMBOL_RE.fullmatch(symbol):
        raise InvalidRequestError(
            f"{field_name}: {symbol!r} has characters other than letters, digits and . - ^ = : _",
            field=field_name,
        )
    return symbol.upper()


def check_interval(raw: str, field_name: str = "interval") -> str:
    if not raw:
        raise InvalidRequestError(f"{field_name}: must not be empty", field=field_name)
    try:
        return Interval.parse(raw).value
    except InvalidIntervalError as exc:
        raise InvalidRequestError(f"{field_name}: {exc.message}", field=field_name) from None


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
