"""Moved: `timebase.sdk.logs` (providers need it too); re-exported for the old path."""

from timebase.sdk.logs import (
    JsonFormatter,
    TextFormatter,
    configure_logging,
    correlation_id,
    correlation_scope,
    new_correlation_id,
)

__all__ = [
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "correlation_id",
    "correlation_scope",
    "new_correlation_id",
]
