"""Payout services: bank accounts, payout creation (wallet debit) and settlement.

Creation debits the wallet (PAYOUT txn) in the same transaction as the payout row
and enqueues settlement after commit. Both money movements (the debit, a reversal) go
through ``monolith.wallets.ledger_port``, which the ``ledger.write`` capability switches
between the legacy tables and the ledger service. Settlement (run by the Celery task) locks
the payout and does nothing unless it is still PROCESSING, so a redelivered task
is harmless; a failed payout is reversed with a PAYOUT_REVERSAL credit.
"""

from __future__ import annotations

import structlog
from django.conf import settings
from django.db import connection, transaction

from monolith.accounts.models import Merchant
from monolith.common.errors import not_found
from monolith.common.money import format_paise, mask_number
from monolith.hooks.delivery import fire_on_commit
from monolith.hooks.notify import email_on_commit
from monolith.payouts.bank import FakeBank
from monolith.payouts.models import (
    PAYOUT_FAILED,
    PAYOUT_PAID,
    PAYOUT_PROCESSING,
    BankAccount,
    Payout,
)
from monolith.wallets import ledger_port
from monolith.wallets import services as wallets
from monolith.wallets.models import Wallet

_log = structlog.get_logger("monolith.payouts")


def bank_account_of(merchant: Merchant, bank_account_id: int) -> BankAccount:
    account = BankAccount.objects.filter(merchant=merchant, pk=bank_account_id).first()
    if account is None:
        raise not_found(f"Bank account {bank_account_id}")
    return account


def create_bank_account(
    merchant: Merchant, *, account_number: str, ifsc: str, holder_name: str,
    user_id: int | None = None,
) -> BankAccount:
    from monolith.accounts.services import user_of

    user = user_of(merchant, user_id) if user_id is not None else None
    return BankAccount.objects.create(
        merchant=merchant, user=user, account_number=account_number, ifsc=ifsc,
        holder_name=holder_name,
    )


def _payout_data(payout: Payout) -> dict[str, object]:
    from monolith.payouts.serializers import PayoutSerializer

    return dict(PayoutSerializer(payout).data)


def _reserve_payout_id() -> int:
    """The next payout id, taken before the row exists (its debit's reference names it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('payouts_payout', 'id'))")
        return int(cursor.fetchone()[0])


def create_payout(
    merchant: Merchant, *, wallet_id: int, bank_account_id: int, amount: int,
    idempotency_key: str,
) -> Payout:
    from monolith.payouts.tasks import settle_payout

    with transaction.atomic():
        account = bank_account_of(merchant, bank_account_id)
        wallet = wallets.wallet_of(merchant, wallet_id, lock=True)
        # The money moves through the ledger port: the legacy tables, or after the write
        # cutover the ledger service (which refuses as refuse_debit does, and on a retry after
        # a crash hands back the first attempt's posting and payout id).
        posted = ledger_port.port_for(wallet.pk).payout_debit(
            wallet, amount, reserve_payout_id=_reserve_payout_id,
            description=f"Payout to {mask_number(account.account_number)}",
            key=ledger_port.payout_debit_key(merchant.pk, idempotency_key),
        )
        payout = Payout.objects.create(
            id=posted.payout_id, merchant=merchant, wallet=wallet, bank_account=account,
            amount=amount, status=PAYOUT_PROCESSING, idempotency_key=idempotency_key,
            debit_transaction=posted.transaction,
        )
        fire_on_commit(merchant.pk, "payout.created", _payout_data(payout))
        email_on_commit(wallet.user_id, "payout.created", "Payout initiated",
                        f"A payout of {format_paise(amount)} from wallet {wallet.pk} is on its way.")
        settle_payout.delay_on_commit(payout.pk)
        return payout


def settle_payout(payout_id: int, bank: FakeBank | None = None) -> str:
    """Settle a PROCESSING payout with the bank; returns what happened (for logs and tests)."""
    bank = bank or FakeBank(settings.PAYSTREAM_BANK_FAILURE_SUFFIX)
    with transaction.atomic():
        payout = (
            Payout.objects.select_for_update().select_related("bank_account")
            .filter(pk=payout_id).first()
        )
        if payout is None:
            _log.warning("payout.settle_missing", payout_id=payout_id)
            return "missing"
        if payout.status != PAYOUT_PROCESSING:
            return "already-settled"
        result = bank.settle(payout.pk, payout.bank_account.account_number, payout.amount)
        wallet = Wallet.objects.select_for_update().get(pk=payout.wallet_id)
        if result.paid:
            payout.status, payout.provider_ref = PAYOUT_PAID, result.provider_ref
            event, subject = "payout.paid", "Payout paid"
        else:
            # The money comes back whatever the wallet's state now: it was never paid out.
            ledger_port.port_for(wallet.pk).payout_reversal(
                wallet, payout.amount, payout_id=payout.pk,
                description=f"Reversal of failed payout {payout.pk}")
            payout.status, payout.failure_reason = PAYOUT_FAILED, result.failure_reason
            event, subject = "payout.failed", "Payout failed"
        payout.save(update_fields=["status", "provider_ref", "failure_reason", "updated_at"])
        fire_on_commit(payout.merchant_id, event, _payout_data(payout))
        email_on_commit(wallet.user_id, event, subject,
                        f"Payout {payout.pk} of {format_paise(payout.amount)}: "
                        f"{payout.get_status_display()}.")
        _log.info("payout.settled", payout_id=payout.pk, status=payout.get_status_display())
        return event
