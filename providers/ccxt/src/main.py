"""Entry point of the ccxt provider add-on: `python src/main.py`."""

from __future__ import annotations

from ccxt_provider import CcxtProvider

from timebase.sdk import serve

if __name__ == "__main__":
    serve(CcxtProvider)
