"""The rules a bar's values must satisfy: one set, shared by the SDK (what a provider yields,
`timebase.sdk.validation`), the store (what is written, `timebase.store.validation`) and the
gateway's real-time hub (what it forwards).

Prices and volume are finite numbers, the volume is not negative, ``low <= high`` and open and
close lie in [low, high]. Each rule has a scalar check (one bar) and a vectorised mask (pyarrow
compute over columns named open, high, low, close, volume; imported lazily so the SDK needs no
pyarrow unless it validates record batches). Rules are in the order a bad row is reported.

The checks and masks are module-level functions of the rule's column, called when a bar is
checked (not closures built at import): a mutation tester can switch each one on (docs/mutation.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: The value columns, in the order of a scalar check's arguments.
COLUMNS = ("open", "high", "low", "close", "volume")

#: (the bar's values by column, the rule's column) → True when the rule is broken.
ScalarTest = Callable[[Mapping[str, float], str], bool]
#: (columns by name, the rule's column) → a boolean mask of the rows breaking the rule.
VectorTest = Callable[[Mapping[str, Any], str], Any]


@dataclass(frozen=True)
class ValueRule:
    #: Why a bar breaking it is skipped (a key of `timebase.sdk.validation.REASONS`).
    reason: str
    #: The column at fault, and the words an error message uses for it.
    column: str
    message: str
    scalar: ScalarTest
    vector: VectorTest

    def check(self, o: float, h: float, lo: float, c: float, v: float) -> bool:
        """True when the values of one bar break this rule."""
        return self.scalar(_values(o, h, lo, c, v), self.column)

    def mask(self, columns: Mapping[str, Any]) -> Any:
        """The rows (of pyarrow columns named as in COLUMNS) breaking this rule."""
        return self.vector(columns, self.column)


def _values(o: float, h: float, lo: float, c: float, v: float) -> dict[str, float]:
    return {"open": o, "high": h, "low": lo, "close": c, "volume": v}


def _not_finite(values: Mapping[str, float], column: str) -> bool:
    return not math.isfinite(values[column])


def _not_finite_mask(columns: Mapping[str, Any], column: str) -> Any:
    import pyarrow.compute as pc

    return pc.invert(pc.is_finite(columns[column]))


def _negative(values: Mapping[str, float], column: str) -> bool:
    return values[column] < 0


def _negative_mask(columns: Mapping[str, Any], column: str) -> Any:
    import pyarrow.compute as pc

    return pc.less(columns[column], 0.0)


def _below_low(values: Mapping[str, float], column: str) -> bool:
    return values[column] < values["low"]


def _below_low_mask(columns: Mapping[str, Any], column: str) -> Any:
    import pyarrow.compute as pc

    return pc.less(columns[column], columns["low"])


def _outside(values: Mapping[str, float], column: str) -> bool:
    value = values[column]
    return bool(value < values["low"] or value > values["high"])


def _outside_mask(columns: Mapping[str, Any], column: str) -> Any:
    import pyarrow.compute as pc

    value = columns[column]
    return pc.or_(pc.less(value, columns["low"]), pc.greater(value, columns["high"]))


VALUE_RULES: tuple[ValueRule, ...] = (
    *(
        ValueRule("not_finite", column, "NaN or infinite", _not_finite, _not_finite_mask)
        for column in COLUMNS
    ),
    ValueRule("negative_volume", "volume", "negative volume", _negative, _negative_mask),
    ValueRule("ohlc", "high", "high below low", _below_low, _below_low_mask),
    ValueRule("ohlc", "open", "open outside [low, high]", _outside, _outside_mask),
    ValueRule("ohlc", "close", "close outside [low, high]", _outside, _outside_mask),
)


def first_broken(o: float, h: float, lo: float, c: float, v: float) -> ValueRule | None:
    """The first rule the values of a bar break, or None."""
    values = _values(o, h, lo, c, v)
    for rule in VALUE_RULES:
        if rule.scalar(values, rule.column):
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
