"""The error of a historical request that got no bars at all: chosen by kinds and reasons."""

from __future__ import annotations

from collections.abc import Mapping

from timebase.gateway.bar_request import BarRequest
from timebase.gateway.fetching import Fill
from timebase.gateway.router import Exclusion, ExclusionReason
from timebase.sdk.errors import (
    AllProvidersFailed,
    ErrorKind,
    ProviderUnavailable,
    RateLimited,
    SymbolNotFound,
)


def no_bars_error(request: BarRequest, fill: Fill, excluded: Mapping[str, Exclusion]) -> Exception:
    """The error of a request no provider could answer and the store holds nothing for: by the
    kinds the providers answered (all NOT_FOUND, now or remembered: SymbolNotFound; all rate
    limited: RateLimited) or the router's exclusion reasons (never their text)."""
    what = f"{request.symbol} {request.interval.value}"
    # A provider left out because it answered NOT_FOUND recently counts as answering it again.
    remembered = {
        slug: e.error
        for slug, e in excluded.items()
        if e.reason is ExclusionReason.SYMBOL_NOT_FOUND_RECENTLY and e.error is not None
    }
    errors = {**fill.errors, **remembered}
    excluded = {slug: e for slug, e in excluded.items() if slug not in remembered}
    parts = [f"{slug}: {error}" for slug, error in errors.items()]
    parts += [f"{slug}: {e.message}" for slug, e in excluded.items()]
    listing = "; ".join(parts) if parts else "no provider serves it"
    kinds = set(fill.kinds.values()) | ({ErrorKind.NOT_FOUND} if remembered else set())
    if kinds and kinds == {ErrorKind.NOT_FOUND}:
        return SymbolNotFound(
            f"symbol {request.symbol!r} was not found ({listing})",
            symbol=request.symbol,
            errors=errors,
        )
    if kinds and kinds == {ErrorKind.RATE_LIMITED}:
        return RateLimited(
            f"every provider for {what} is rate limited ({listing})",
            retry_after=fill.retry_after,
            errors=dict(fill.errors),
        )
    if fill.errors and set(fill.errors) <= fill.out_of_window and not remembered:
        # Only lookback windows left the providers out: each is named with its window.
        return ProviderUnavailable(
            f"no provider can serve {what} in this range ({listing})",
            symbol=request.symbol,
            excluded={**fill.errors, **{slug: e.message for slug, e in excluded.items()}},
        )
    if not fill.errors and not request.provider:
        if excluded and all(e.reason.about_symbol for e in excluded.values()):
            return SymbolNotFound(
                f"no provider serves symbol {request.symbol!r} ({listing})",
                symbol=request.symbol,
            )
        return ProviderUnavailable(
            f"no provider can serve {what} ({listing})",
            symbol=request.symbol,
            excluded={slug: e.message for slug, e in excluded.items()},
        )
    return AllProvidersFailed(
        f"every provider failed for {what} ({listing})", errors=dict(fill.errors)
    )
