"""Entry point of the ccxt provider add-on: `python src/main.py`."""

from __future__ import annotations

from timebase.sdk.lean import refuse_imports

# This add-on builds no DataFrame: keep pandas (which pyarrow imports on its first conversion of
# Python objects, where installed) and polars out of its memory (timebase.sdk.lean).
refuse_imports()

from ccxt_provider import CcxtProvider  # noqa: E402

from timebase.sdk import serve  # noqa: E402

if __name__ == "__main__":
    serve(CcxtProvider)
