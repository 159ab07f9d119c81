"""The monolith's side of ``notifications.email`` (``monolith.hooks.notify.decide``): one mode per
correlation id, taken from the flag inside the write's transaction and kept for that id. (The
flag read from the real control plane, flips and all, is ``test_flip``'s.)"""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.db import connections

from acl.django import correlation
from monolith.accounts.services import create_merchant_with_key, create_user
from monolith.hooks.models import Notification, NotificationDecision
from monolith.hooks.notify import CAPABILITY
from monolith.wallets.models import Wallet
from monolith.wallets.services import create_wallet, credit
from strangler import capability_flags

pytestmark = pytest.mark.django_db(databases=["default", "control"])


class Flag:
    """The flag reader the monolith asks, pinned to a mode (or unreachable with ``None``)."""

    def __init__(self) -> None:
        self.mode: str | None = "monolith"

    def mode_of(self, capability: str, key: str | None = None) -> str:
        if capability != CAPABILITY:  # other seams (inline webhooks) stay on the legacy path
            return "monolith"
        if self.mode is None:
            raise capability_flags.FlagUnavailable("control plane down")
        return self.mode


@pytest.fixture
def flag(monkeypatch: pytest.MonkeyPatch) -> Flag:
    pinned = Flag()
    monkeypatch.setattr(capability_flags, "_default", pinned)
    return pinned


@pytest.fixture
def wallet() -> Wallet:
    merchant, _ = create_merchant_with_key("Acme", "acme@example.com")
    user = create_user(merchant, external_ref="u1", full_name="Asha", email="asha@example.com")
    return create_wallet(merchant, user.pk)


def _credit(wallet: Wallet, capture: Any) -> None:
    with capture(execute=True):
        credit(wallet.merchant, wallet.pk, 100)


def test_extracted_turns_the_inline_email_off_and_records_the_decision(
        flag: Flag, wallet: Wallet, django_capture_on_commit_callbacks: Any) -> None:
    flag.mode = "extracted"
    with correlation("req-ext"):
        _credit(wallet, django_capture_on_commit_callbacks)
    assert mail.outbox == [] and not Notification.objects.exists()
    decision = NotificationDecision.objects.get(correlation_id="req-ext")
    assert (decision.mode, decision.template) == ("extracted", "wallet.credited")
    assert decision.notification_id is None


def test_shadow_sends_inline_and_links_what_it_sent_for_the_comparison(
        flag: Flag, wallet: Wallet, django_capture_on_commit_callbacks: Any) -> None:
    flag.mode = "shadow"
    with correlation("req-shadow"):
        _credit(wallet, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    decision = NotificationDecision.objects.get(correlation_id="req-shadow")
    assert decision.mode == "shadow"
    assert decision.notification == Notification.objects.get()


def test_a_correlation_id_keeps_its_first_mode_across_a_flip(
        flag: Flag, wallet: Wallet, django_capture_on_commit_callbacks: Any) -> None:
    with correlation("req-long"):
        _credit(wallet, django_capture_on_commit_callbacks)
        flag.mode = "extracted"  # flipped between two writes of one request
        _credit(wallet, django_capture_on_commit_callbacks)
    modes = NotificationDecision.objects.filter(correlation_id="req-long").values_list("mode", flat=True)
    assert list(modes) == ["monolith", "monolith"]
    assert len(mail.outbox) == 2


def test_without_a_correlation_id_or_a_readable_flag_the_monolith_sends(
        flag: Flag, wallet: Wallet, django_capture_on_commit_callbacks: Any) -> None:
    flag.mode = "extracted"
    with connections["default"].cursor() as cursor:  # no request: nothing on the session
        cursor.execute("SELECT set_config('strangler.correlation_id', '', false)")
    _credit(wallet, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1 and not NotificationDecision.objects.exists()
    flag.mode = None
    with correlation("req-down"):
        _credit(wallet, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 2
    assert NotificationDecision.objects.get(correlation_id="req-down").mode == "monolith"



def test_a_decision_that_cannot_be_recorded_never_fails_the_write(
        flag: Flag, wallet: Wallet, django_capture_on_commit_callbacks: Any) -> None:
    flag.mode = "extracted"
    with connections["default"].cursor() as cursor:  # undone with the test's transaction
        cursor.execute("ALTER TABLE hooks_notificationdecision RENAME TO hooks_notificationdecision_gone")
    with correlation("req-broken"):
        _credit(wallet, django_capture_on_commit_callbacks)
    assert Wallet.objects.get(pk=wallet.pk).balance == 100  # the credit itself went through
    assert len(mail.outbox) == 1  # no decision on record: the legacy path, which the service also assumes
