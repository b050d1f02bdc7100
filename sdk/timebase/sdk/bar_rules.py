"""The rules a bar's values must satisfy: one set, shared by the SDK (what a provider yields,
`timebase.sdk.validation`), the store (what is written, `timebase.store.validation`) and the
gateway's real-time hub (what it forwards).

Prices and volume are finite numbers, the volume is not negative, ``low <= high`` and open and
close lie in [low, high]. Each rule has a scalar check (one bar) and a vectorised mask (pyarrow
compute over columns named open, high, low, close, volume; imported lazily so the SDK needs no
pyarrow unless it validates record batches). Rules are in the order a bad row is reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: (open, high, low, close, volume) → True when the rule is broken.
ScalarCheck = Callable[[float, float, float, float, float], bool]


@dataclass(frozen=True)
class ValueRule:
    #: Why a bar breaking it is skipped (a key of `timebase.sdk.validation.REASONS`).
    reason: str
    #: The column at fault, and the words an error message uses for it.
    column: str
    message: str
    check: ScalarCheck
    mask: Callable[[Mapping[str, Any]], Any]


def _not_finite(column: str, index: int) -> ValueRule:
    def check(*values: float) -> bool:
        return not math.isfinite(values[index])

    def mask(columns: Mapping[str, Any]) -> Any:
        import pyarrow.compute as pc

        return pc.invert(pc.is_finite(columns[column]))

    return ValueRule("not_finite", column, "NaN or infinite", check, mask)


def _outside(column: str, index: int) -> ValueRule:
    def check(*values: float) -> bool:
        _, high, low, _, _ = values
        return bool(values[index] < low or values[index] > high)

    def mask(columns: Mapping[str, Any]) -> Any:
        import pyarrow.compute as pc

        value = columns[column]
        return pc.or_(pc.less(value, columns["low"]), pc.greater(value, columns["high"]))

    return ValueRule("ohlc", column, f"{column} outside [low, high]", check, mask)


def _negative_volume(columns: Mapping[str, Any]) -> Any:
    import pyarrow.compute as pc

    return pc.less(columns["volume"], 0.0)


def _high_below_low(columns: Mapping[str, Any]) -> Any:
    import pyarrow.compute as pc

    return pc.less(columns["high"], columns["low"])


VALUE_RULES: tuple[ValueRule, ...] = (
    *(
        _not_finite(column, index)
        for index, column in enumerate(("open", "high", "low", "close", "volume"))
    ),
    ValueRule(
        "negative_volume",
        "volume",
        "negative volume",
        lambda o, h, lo, c, v: v < 0,
        _negative_volume,
    ),
    ValueRule("ohlc", "high", "high below low", lambda o, h, lo, c, v: h < lo, _high_below_low),
    _outside("open", 0),
    _outside("close", 3),
)


def first_broken(o: float, h: float, lo: float, c: float, v: float) -> ValueRule | None:
    """The first rule the values of a bar break, or None."""
    for rule in VALUE_RULES:
        if rule.check(o, h, lo, c, v):
            return rule
    return None


def value_problem(o: float, h: float, lo: float, c: float, v: float) -> str | None:
    """Why the values of a bar are invalid (the first broken rule's reason), or None."""
    rule = first_broken(o, h, lo, c, v)
    return rule.reason if rule is not None else None


def broken(columns: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Each reason (in rule order) with the mask of the rows breaking one of its rules."""
    import pyarrow.compute as pc

    out: dict[str, Any] = {}
    for rule in VALUE_RULES:
        mask = rule.mask(columns)
        out[rule.reason] = mask if rule.reason not in out else pc.or_(out[rule.reason], mask)
    return list(out.items())
