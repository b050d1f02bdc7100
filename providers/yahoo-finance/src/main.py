"""Entry point of the yahoo-finance provider add-on: `python src/main.py`."""

from __future__ import annotations

from yahoo_provider import YahooFinanceProvider

from timebase.sdk import serve

if __name__ == "__main__":
    serve(YahooFinanceProvider)
