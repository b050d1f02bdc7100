"""The SDK contract kit against the ccxt provider on recorded Binance responses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from timebase.sdk import Manifest
from timebase.sdk.testing import ContractCase, ProviderContract


def case(target: str, manifest: Manifest) -> ContractCase:
    return ContractCase(
        target=target,
        manifest=manifest,
        symbol="BINANCE:BTC-USDT",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 4, 1, tzinfo=UTC),
        # The intervals recorded for BTCUSDT (see recordings/README.md); 1h spans two pages.
        intervals=["1h", "1d"],
        ranges={"1h": (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 20, tzinfo=UTC))},
        unknown_symbol="BINANCE:NOPE-USDT",
        foreign_symbol="AAPL",
        limit=4,
    )


class TestContractInProcess(ProviderContract):
    @pytest.fixture
    def contract(self, inprocess_target: str, manifest: Manifest) -> ContractCase:
        return case(inprocess_target, manifest)


class TestContractSubprocess(ProviderContract):
    @pytest.fixture
    def contract(self, process_target: str, manifest: Manifest) -> ContractCase:
        return case(process_target, manifest)
