"""Entry point of the synthetic provider add-on: `python src/main.py`."""

from __future__ import annotations

from timebase.sdk.lean import refuse_imports

# This add-on builds no DataFrame: keep pandas (which pyarrow imports on its first conversion of
# Python objects, where installed) and polars out of its memory (timebase.sdk.lean).
refuse_imports()

from synthetic_provider import SyntheticProvider  # noqa: E402

from timebase.sdk import serve  # noqa: E402

if __name__ == "__main__":
    serve(SyntheticProvider)
