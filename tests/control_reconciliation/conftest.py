"""Fixtures: a balance-consistent legacy/extracted ledger pair, and a config pointing at it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from reconcile.manifest import derive_key
from strangler.control.reconciliation.config import ReconcileConfig
from tests.reconcile import ledger_fixture
from tests.reconcile.balance_fixture import make_consistent
from tests.reconcile.conftest import LedgerPair

ROWS = 600


@pytest.fixture
def pair(fresh_database: Callable[[str], str]) -> LedgerPair:
    made = LedgerPair(fresh_database("crec_legacy"), fresh_database("crec_extracted"))
    ledger_fixture.build_legacy(made.legacy, ROWS)
    ledger_fixture.build_extracted(made.extracted, ROWS)
    make_consistent(made)
    return made


@pytest.fixture
def config(pair: LedgerPair) -> ReconcileConfig:
    return ReconcileConfig(pair.legacy, pair.extracted, derive_key("test-key"), 3, None)
