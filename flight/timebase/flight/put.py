"""`do_put` batches: the descriptor's options (`provider`, `interval`) applied to the batch."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from timebase.flight.query import PutOptions
from timebase.gateway.bar_request import check_provider
from timebase.sdk.errors import InvalidDataError, TimeBaseError
from timebase.store.validation import check_unique_columns


def apply_options(table: pa.Table, options: PutOptions) -> pa.Table:
    """Fill `provider` / `interval` from the descriptor; reject a batch that contradicts it."""
    check_unique_columns(table.column_names)
    for name, value in (
        ("provider", options.provider),
        ("interval", options.interval.value if options.interval else None),
    ):
        if name not in table.column_names:
            if value is None:
                raise InvalidDataError(
                    f"missing column {name!r}: give it in the batch or in the descriptor "
                    f'({{"provider": "...", "interval": "1d"}})',
                    column=name,
                )
            table = table.append_column(name, pa.repeat(pa.scalar(value, pa.string()), len(table)))
            continue
        column = table[name]
        if value is not None:
            differs = pc.fill_null(pc.not_equal(column.cast(pa.string()), value), True)
            if pc.any(differs).as_py():
                row = int(pc.index(differs, True).as_py())
                raise InvalidDataError(
                    f"row {row}, column {name!r}: {column[row].as_py()!r} contradicts the "
                    f"descriptor's {name} {value!r}; nothing was written",
                    row=row,
                    column=name,
                )
    if table.num_rows and "provider" in table.column_names:
        for slug in pc.unique(table["provider"].cast(pa.string())).to_pylist():
            if slug is None:
                continue
            try:
                check_provider(slug)
            except TimeBaseError:
                row = int(pc.index(table["provider"], slug).as_py())
                raise InvalidDataError(
                    f"row {row}, column 'provider': {slug!r} is not a provider name "
                    "(a-z, 0-9, '-', '_', starting with a letter or digit); nothing was written",
                    row=row,
                    column="provider",
                ) from None
    return table
