"""The SDK contract kit against the local-files provider, in-process and as a real subprocess."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.providers.local_files.conftest import CONTRACT_END, CONTRACT_START, CONTRACT_SYMBOL
from timebase.sdk import Manifest
from timebase.sdk.testing import ContractCase, ProviderContract

WEEK = (datetime(2024, 6, 24, tzinfo=UTC), datetime(2024, 6, 29, tzinfo=UTC))


def case(target: str, manifest: Manifest) -> ContractCase:
    return ContractCase(
        target=target,
        manifest=manifest,
        symbol=CONTRACT_SYMBOL,
        start=CONTRACT_START,
        end=CONTRACT_END,
        ranges=dict.fromkeys(("1m", "5m", "15m", "30m", "1h", "4h"), WEEK),
        unknown_symbol="NOPE",
        limit=5,
        lists_symbols=True,
        listed_symbols=(CONTRACT_SYMBOL,),
    )


class TestContractInProcess(ProviderContract):
    @pytest.fixture
    def contract(self, contract_target: str, manifest: Manifest) -> ContractCase:
        return case(contract_target, manifest)


class TestContractSubprocess(ProviderContract):
    @pytest.fixture
    def contract(self, process_target: str, manifest: Manifest) -> ContractCase:
        return case(process_target, manifest)
