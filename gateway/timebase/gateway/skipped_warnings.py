"""`INVALID_BARS_SKIPPED` warnings from what the store remembers, not from the fetch.

When a fetched range had invalid bars skipped (by the gateway's validation, or reported by the
provider), the store remembers the range (`Store.skipped_ranges`). Every answer reading a part of
such a range warns, the first one and every later one alike (cold and warm answers are the same),
until the range is fetched again (a refresh) with only valid bars.
"""

from __future__ import annotations

from timebase.gateway.bar_warnings import BarWarning, WarningCode
from timebase.gateway.coverage_plan import ReadPlan
from timebase.store import Store
from timebase.store.skipped import SkipReport


def skip_report(warnings: list[BarWarning]) -> SkipReport | None:
    """The provider's own `INVALID_BARS_SKIPPED` warnings of one fetch, summed up (None: none)."""
    skips = [w for w in warnings if w.code is WarningCode.INVALID_BARS_SKIPPED]
    if not skips:
        return None
    count = sum(w.count if w.count is not None else 1 for w in skips)
    return SkipReport(count, "; ".join(f"provider: {w.message}" for w in skips))


async def skipped_warnings(store: Store, plan: ReadPlan) -> list[BarWarning]:
    """One warning per remembered range the plan's segments read from."""
    if not plan.segments:
        return []
    interval = plan.derived_from or plan.interval
    start = min(seg.start for seg in plan.segments)
    end = max(seg.end for seg in plan.segments)
    providers = sorted({seg.provider for seg in plan.segments})
    remembered = await store.skipped_ranges(plan.symbol, interval, providers, start, end)
    warnings = []
    for hole in remembered:
        if not any(
            seg.provider == hole.provider and seg.start < hole.end and hole.start < seg.end
            for seg in plan.segments
        ):
            continue
        warnings.append(
            BarWarning(
                WarningCode.INVALID_BARS_SKIPPED,
                f"{hole.count} invalid bars from {hole.provider!r} were skipped in "
                f"[{hole.start.isoformat()}, {hole.end.isoformat()}) ({hole.reasons}); "
                "a refresh fetches them again",
                provider=hole.provider,
                start=hole.start,
                end=hole.end,
                count=hole.count,
            )
        )
    return warnings
