"""The SDK contract kit against the synthetic provider, in-process and as a real subprocess."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from timebase.sdk import Manifest
from timebase.sdk.testing import ContractCase, ProviderContract

START = datetime(2023, 7, 1, tzinfo=UTC)
END = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
SHORT = (datetime(2024, 2, 26, 9, 30, tzinfo=UTC), datetime(2024, 3, 1, 12, 30, tzinfo=UTC))
MONTH = (datetime(2024, 1, 15, tzinfo=UTC), datetime(2024, 2, 15, tzinfo=UTC))


def case(target: str, manifest: Manifest) -> ContractCase:
    return ContractCase(
        target=target,
        manifest=manifest,
        symbol="SYN:ACME",
        start=START,
        end=END,
        ranges={"1m": SHORT, "5m": SHORT, "15m": SHORT, "30m": MONTH, "1h": MONTH, "4h": MONTH},
        foreign_symbol="AAPL",
        limit=7,
        lists_symbols=True,
        listed_symbols=("SYN:ACME", "SYN:GLOBEX", "SYN:INITECH", "SYN:INDEX", "SYN:COIN"),
    )


class TestContractInProcess(ProviderContract):
    # Synthetic serves every SYN: symbol, so no symbol is unknown to it: the case does not apply.
    test_unknown_symbol_not_found = None  # type: ignore[assignment]

    @pytest.fixture
    def contract(self, inprocess_target: str, manifest: Manifest) -> ContractCase:
        return case(inprocess_target, manifest)


class TestContractSubprocess(ProviderContract):
    # Synthetic serves every SYN: symbol, so no symbol is unknown to it: the case does not apply.
    test_unknown_symbol_not_found = None  # type: ignore[assignment]

    @pytest.fixture
    def contract(self, process_target: str, manifest: Manifest) -> ContractCase:
        return case(process_target, manifest)
