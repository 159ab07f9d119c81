"""Fixtures for reconciliation tests: a legacy/extracted ledger pair on the test server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from reconcile.bootstrap import check_against
from reconcile.check import CheckedComparison
from reconcile.mapping import load_mapping
from reconcile.mappings import LEDGER
from tests.reconcile import ledger_fixture

LEDGER_ROWS = 3000


@dataclass
class LedgerPair:
    legacy: str
    extracted: str

    def checked(self, name: str = "transactions") -> CheckedComparison:
        mapping = load_mapping(LEDGER)
        by_name = {c.comparison.name: c for c in check_against(mapping, self.legacy,
                                                                 self.extracted)}
        return by_name[name]


@pytest.fixture
def ledger_pair(fresh_database: Callable[[str], str]) -> LedgerPair:
    """Two databases on the test server: legacy ledger and its faithful extracted copy."""
    pair = LedgerPair(fresh_database("recon_legacy"), fresh_database("recon_extracted"))
    ledger_fixture.build_legacy(pair.legacy, LEDGER_ROWS)
    ledger_fixture.build_extracted(pair.extracted, LEDGER_ROWS)
    return pair
