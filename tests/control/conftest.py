"""Fixtures for control-plane tests: a populated route table and the control database's URL."""

from __future__ import annotations

import pytest

from strangler.control.routing import services
from strangler.control.routing.urlconf import LegacyRoute

ROUTES = [
    LegacyRoute("GET", "/api/v1/wallets/"),
    LegacyRoute("POST", "/api/v1/wallets/"),
    LegacyRoute("GET", "/api/v1/wallets/{wallet_id}/"),
    LegacyRoute("GET", "/api/v1/wallets/{wallet_id}/transactions/"),
    LegacyRoute("GET", "/api/v1/payouts/"),
]


@pytest.fixture
def table() -> services.ImportResult:
    """Capabilities wallets, wallets.transactions and payouts, all on the monolith."""
    return services.import_urlconf(ROUTES, actor="tester", reason="test fixture")


def control_url() -> str:
    from django.db import connections

    s = connections["control"].settings_dict
    return f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"
