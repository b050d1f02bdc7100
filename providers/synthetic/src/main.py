"""Entry point of the synthetic provider add-on: `python src/main.py`."""

from __future__ import annotations

from synthetic_provider import SyntheticProvider

from timebase.sdk import serve

if __name__ == "__main__":
    serve(SyntheticProvider)
