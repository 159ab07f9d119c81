"""The scripted integration against the real monolith (Django live server, real PostgreSQL)."""

from __future__ import annotations

import pytest
from pytest_django.live_server_helper import LiveServer

from legacy_client import run_scenario


@pytest.mark.django_db(transaction=True)
def test_scenario_passes_every_step_against_the_monolith(live_server: LiveServer) -> None:
    from django.contrib.auth.models import User as StaffUser

    from monolith.accounts.models import ApiKey, Merchant, User
    from monolith.wallets.models import Wallet

    merchant = Merchant.objects.create(name="Scenario Merchant", email="pay@scenario.example.in")
    _, raw = ApiKey.issue(merchant, "ps_test_scenario-key-0001")
    other = Merchant.objects.create(name="Other Merchant", email="pay@other.example.in")
    other_user = User.objects.create(merchant=other, external_ref="o-1", full_name="Other")
    foreign = Wallet.objects.create(merchant=other, user=other_user)
    StaffUser.objects.create_user("ops", password="ops-test-password", is_staff=True)

    transcript = run_scenario(live_server.url, api_key=raw, staff_username="ops",
                              staff_password="ops-test-password", foreign_wallet_id=foreign.pk)

    assert transcript.ok, "\n".join(map(str, transcript.failures))
    assert len(transcript.exchanges) > 50
