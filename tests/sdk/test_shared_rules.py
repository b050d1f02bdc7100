"""The rules the SDK and the gateway share: bar values, backoff, boolean words, slugs."""

from __future__ import annotations

import math

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from timebase.sdk.backoff import Backoff
from timebase.sdk.bar_rules import VALUE_RULES, broken, first_broken, value_problem
from timebase.sdk.conventions import is_slug, parse_bool
from timebase.sdk.ratelimit import TokenBucket

NAN = math.nan

BARS = [
    # (open, high, low, close, volume), the reason, the column an error names
    ((10.0, 11.0, 9.0, 10.5, 100.0), None, None),
    ((10.0, 11.0, 9.0, 10.5, NAN), "not_finite", "volume"),
    ((math.inf, 11.0, 9.0, 10.5, 1.0), "not_finite", "open"),
    ((10.0, 11.0, 9.0, 10.5, -1.0), "negative_volume", "volume"),
    ((10.0, 8.0, 9.0, 8.5, 1.0), "ohlc", "high"),
    ((12.0, 11.0, 9.0, 10.5, 1.0), "ohlc", "open"),
    ((10.0, 11.0, 9.0, 8.0, 1.0), "ohlc", "close"),
]


@pytest.mark.parametrize(("values", "reason", "column"), BARS)
def test_one_bar(values: tuple[float, ...], reason: str | None, column: str | None) -> None:
    assert value_problem(*values) == reason
    rule = first_broken(*values)
    assert (rule.column if rule else None) == column


def test_the_vectorised_masks_agree_with_the_scalar_checks() -> None:
    names = ("open", "high", "low", "close", "volume")
    columns = {n: pa.array([bar[0][i] for bar in BARS], pa.float64()) for i, n in enumerate(names)}
    masks = dict(broken(columns))
    for row, (values, reason, _) in enumerate(BARS):
        flagged = {r for r, mask in masks.items() if pc.fill_null(mask, True)[row].as_py()}
        expected = {rule.reason for rule in VALUE_RULES if rule.check(*values)}
        assert flagged == expected
        assert (reason is None) == (not flagged)


def test_backoff_kinds() -> None:
    full = Backoff(0.5, maximum=30.0, full_jitter=True)
    assert full.delay(1, rng=lambda: 1.0) == 0.5
    assert full.delay(4, rng=lambda: 0.5) == 2.0
    assert full.delay(100, rng=lambda: 1.0) == 30.0
    plain = Backoff(1.0, maximum=60.0, jitter=0.0)
    assert [plain.delay(n) for n in (0, 1, 2, 3, 7, 8)] == [0.0, 1.0, 2.0, 4.0, 60.0, 60.0]
    assert Backoff(0.2, maximum=math.inf, full_jitter=True).delay(3, rng=lambda: 1.0) == 0.8


@pytest.mark.parametrize(
    ("text", "lenient", "strict"),
    [
        ("true", True, True),
        (" FALSE ", False, False),
        ("yes", True, None),
        ("off", False, None),
        ("1", True, None),
        ("maybe", None, None),
        ("", None, None),
    ],
)
def test_boolean_words(text: str, lenient: bool | None, strict: bool | None) -> None:
    assert parse_bool(text) is lenient
    assert parse_bool(text, strict=True) is strict


def test_slugs() -> None:
    assert [is_slug(s) for s in ("yahoo-finance", "a", "x_1", "a" * 63)] == [True] * 4
    assert [is_slug(s) for s in ("Yahoo", "-x", "a" * 64, "")] == [False] * 4


def test_token_bucket_per_second_and_try_take() -> None:
    now = [0.0]
    bucket = TokenBucket.per_second(2, 0.5, clock=lambda: now[0])
    assert bucket.rate == 0.5
    assert [bucket.try_take() for _ in range(3)] == [True, True, False]
    assert bucket.counted == 0.0
    now[0] = 2.0
    assert bucket.try_take()
    assert bucket.counted == 0.0
