"""The SDK contract kit against the yahoo-finance provider on recorded responses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from timebase.sdk import Manifest
from timebase.sdk.testing import ContractCase, ProviderContract

JUNE_7 = (datetime(2024, 6, 7, tzinfo=UTC), datetime(2024, 6, 8, tzinfo=UTC))


def case(target: str, manifest: Manifest) -> ContractCase:
    return ContractCase(
        target=target,
        manifest=manifest,
        symbol="AAPL",
        start=datetime(2024, 1, 1, tzinfo=UTC),
        end=datetime(2024, 6, 1, tzinfo=UTC),
        # The intervals recorded for AAPL (see recordings/README.md).
        intervals=["15m", "30m", "1h", "1d", "1wk", "1mo"],
        ranges={
            "15m": JUNE_7,
            "30m": JUNE_7,
            "1h": (datetime(2024, 2, 5, tzinfo=UTC), datetime(2024, 2, 10, tzinfo=UTC)),
        },
        unknown_symbol="TWTR",
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
