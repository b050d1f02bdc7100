"""Hypothesis strategies shared by the gRPC and Flight fuzzers: symbols, intervals, instants and
modest ranges, as well-formed values mixed with arbitrary ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from timebase.core.user_time import EARLIEST_TIME, LATEST_TIME
from timebase.gateway.bar_request import MAX_SYMBOL_LENGTH
from timebase.sdk.intervals import INTERVALS, Interval

# The accepted range of instants (every door refuses anything outside it with a clear error before
# any date arithmetic: tests/rest/test_limits.py, tests/gateway/test_limits.py), a day or so inside
# each end so that a time zone's offset keeps a generated instant inside it.
FIRST = EARLIEST_TIME + timedelta(days=1)
LAST = LATEST_TIME - timedelta(days=3)
# Ranges and limits stay modest: an answer under a door's limit is real work (a provider fetch and
# a store), and the fuzzers look for wrong answers, not slow ones. Over-limit refusals before any
# work are tested in tests/*/test_limits.py.
MAX_BARS = 300


def mostly(good: st.SearchStrategy[str], other: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """`good` values three times out of four, `other` (arbitrary ones) otherwise."""
    return st.one_of(good, good, good, other)


symbols = mostly(
    st.one_of(
        st.sampled_from(["SYN:ACME", "syn:fuzz", "SYN:A.B-C_D", "AAPL", "^GSPC", "EURUSD=X"]),
        st.from_regex(r"SYN:[A-Z0-9._-]{1,32}", fullmatch=True),
    ),
    st.text(max_size=MAX_SYMBOL_LENGTH + 6),  # a few over the cap, which must be refused
)
intervals = mostly(st.sampled_from(INTERVALS), st.text(max_size=6))
slugs = mostly(st.sampled_from(["", "", "synthetic", "nobody"]), st.text(max_size=70))
instants = st.datetimes(FIRST.replace(tzinfo=None), LAST.replace(tzinfo=None)).map(
    lambda naive: naive.replace(tzinfo=UTC)
)
limits = st.one_of(st.none(), st.integers(-(2**31), 0), st.integers(1, MAX_BARS))


@st.composite
def ranges(draw: st.DrawFn, interval: str) -> tuple[datetime | None, datetime | None]:
    """(start, end): either may be absent; when both are there, at most MAX_BARS bars apart
    (or the wrong way round); a lone start is at most MAX_BARS bars before now."""
    try:
        step = Interval(interval).nominal
    except ValueError:
        step = timedelta(days=1)
    bars = draw(st.integers(-3, MAX_BARS))
    shape = draw(st.sampled_from(["both", "start", "end", "neither"]))
    if shape == "start":
        now = datetime.now(UTC)
        return now - step * max(bars, 1), None
    start = draw(instants)
    end = min(start + step * bars, LAST)
    if shape == "both":
        return start, end
    if shape == "end":
        return None, end
    return None, None
