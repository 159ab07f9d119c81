"""Orphaned payout debits: swept back to the wallet, and never adopted by a late retry afterwards.

The rig of ``test_ledger_port``: the ``ledger.write`` capability is ``extracted``, the ledger
service runs as a real process, and a payout attempt is SIGKILLed after the ledger answered
and before the monolith committed: the ledger holds a debit with no payout. ``ledger_sync``
mirrors it into the legacy tables, where the sweep finds it. The sweep runs as operators run
it, ``python -m monolith.manage sweep_orphan_payouts``, in a process of its own with the
monolith's settings pointed at the test's databases and ledger service.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from decimal import Decimal
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from extracted.ledger_query.port_auth import service_token
from monolith.payouts.models import Payout
from monolith.wallets import ledger_sync
from monolith.wallets.models import TXN_PAYOUT, TXN_PAYOUT_REVERSAL, Transaction, Wallet
from monolith.wallets.orphans import OrphanSweep
from strangler.config import get_settings
from tests.acl.helpers import wait_until
from tests.extracted.ledger_query.ledger_service import REPO, django_database_url, free_port
from tests.extracted.ledger_query.test_ledger_port import Rig, _ok

pytestmark = pytest.mark.django_db(databases=["default", "control"], transaction=True)
NOW = ("--older-than", "0s")  # a zero window: every orphan is old enough


@pytest.fixture
def rig(ledger_service: tuple[str, str]) -> Rig:
    return Rig(ledger_service)


def _token() -> str:
    return service_token(get_settings().secret_key)


def _mirror(rig: Rig) -> int:
    """``ledger_sync`` once: the ledger's postings of this wallet into the legacy tables."""
    # earlier tests' postings belong to wallets this test's monolith database no longer has
    rig.ledger.one("WITH a AS (UPDATE ledger_write_event SET synced_at = now() WHERE wallet_id <> %s"
                   " RETURNING 1) SELECT count(*) FROM a", rig.wallet.pk)
    return ledger_sync.sync_once(rig.service, _token())


def _settled(*keep: int) -> None:
    """Wait until no transaction but ``keep``'s is open (a killed attempt's backend is gone)."""
    wait_until(lambda: {s.pid for s in OrphanSweep().open_transactions()} <= set(keep), 30,
               "the killed attempt's database session to end")


def _orphan(rig: Rig, amount: str, key: str) -> Transaction:
    """A payout killed after the ledger debited, mirrored by ledger_sync: its legacy debit row."""
    killed = rig.create(amount, key, kill=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert _mirror(rig) == 1
    (debit,) = rig.legacy(TXN_PAYOUT)
    assert not Payout.objects.exists()
    return debit


def _sweep(rig: Rig, *args: str, ledger_port: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
           "STRANGLER_MONOLITH_DATABASE_URL": django_database_url("default"),
           "STRANGLER_CONTROL_DATABASE_URL": django_database_url("control"),
           "STRANGLER_LEDGER_PORT": str(ledger_port or urlsplit(rig.service).port)}
    return subprocess.run([sys.executable, "-m", "monolith.manage", "sweep_orphan_payouts", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def _swept(rig: Rig, *args: str) -> list[str]:
    """A sweep that exits 0: its output's lines, the summary last."""
    done = _sweep(rig, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


def _balance(rig: Rig) -> int:
    return Wallet.objects.get(pk=rig.wallet.pk).balance


def test_an_orphaned_debit_is_reversed_once_and_a_late_retry_gets_409_not_a_payout(rig: Rig) -> None:
    debit = _orphan(rig, "250.00", "po-orphan")
    assert _balance(rig) == 750_00 and rig.ledger_balance() == Decimal("750.00")
    _settled()

    (line, summary) = _swept(rig, *NOW)
    assert line.startswith(f"reversed      payout debit {debit.pk} ({debit.reference}, "
                           f"wallet {rig.wallet.pk}")
    assert summary == "1 orphaned payout debit(s) older than 0s: 1 reversed"
    (at_ledger,) = rig.ledger_postings("payout_reversal")
    assert at_ledger[1] == debit.reference and rig.ledger_balance() == Decimal("1000.00")
    (mirrored,) = rig.legacy(TXN_PAYOUT_REVERSAL)
    assert (mirrored.pk, mirrored.reference, mirrored.amount) == (at_ledger[0], debit.reference, 250_00)
    assert line.endswith(f"credited back as transaction {mirrored.pk}")
    assert f"payout debit {debit.pk}" in mirrored.description
    assert mirrored.balance_after == 1000_00 == _balance(rig)
    assert _mirror(rig) == 1  # the reversal's event: found mirrored already, acknowledged
    assert len(rig.legacy(TXN_PAYOUT_REVERSAL)) == 1 and _balance(rig) == 1000_00

    assert _swept(rig, *NOW) == ["no orphaned payout debits older than 0s"]  # a second sweep
    assert len(rig.ledger_postings("payout_reversal")) == 1

    status, body = _ok(rig.create("250.00", "po-orphan"))  # the client's late retry
    assert (status, body["error_code"]) == (409, "PAYOUT_DEBIT_REVERSED")
    assert "Nothing was paid out" in body["message"] and "new Idempotency-Key" in body["message"]
    assert not Payout.objects.exists()
    assert len(rig.ledger_postings("payout")) == 1 and len(rig.ledger_postings("payout_reversal")) == 1
    assert rig.ledger_balance() == Decimal("1000.00") and _balance(rig) == 1000_00

    status, body = _ok(rig.create("250.00", "po-orphan-again"))  # as told: a new key pays out
    assert status == 201 and Payout.objects.get().pk == body["id"]
    assert rig.ledger_balance() == Decimal("750.00") and _balance(rig) == 750_00


def test_committed_payouts_are_never_swept(rig: Rig) -> None:
    assert _ok(rig.create("100.00", "po-done"))[0] == 201
    killed = rig.create("50.00", "po-adopted", kill=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert _ok(rig.create("50.00", "po-adopted"))[0] == 201  # the retry adopted the first debit
    _mirror(rig)
    assert len(rig.legacy(TXN_PAYOUT)) == 2 == Payout.objects.count()
    _settled()

    assert _swept(rig, *NOW) == ["no orphaned payout debits older than 0s"]
    assert rig.ledger_postings("payout_reversal") == [] and rig.legacy(TXN_PAYOUT_REVERSAL) == []
    assert rig.ledger_balance() == Decimal("850.00") and _balance(rig) == 850_00


def test_a_transaction_open_since_before_the_debit_holds_its_sweep(rig: Rig) -> None:
    with psycopg.connect(django_database_url("default")) as older:
        older.execute("SELECT 1")  # begins a transaction (psycopg does not autocommit)
        debit = _orphan(rig, "300.00", "po-held")
        _settled(older.info.backend_pid)

        (line, summary) = _swept(rig, *NOW)
        assert line.startswith(f"waiting       payout debit {debit.pk} ")
        assert f"transactions open since before it: pid {older.info.backend_pid} (since " in line
        assert summary == "1 orphaned payout debit(s) older than 0s: 1 waiting"
        assert rig.ledger_postings("payout_reversal") == [] and rig.legacy(TXN_PAYOUT_REVERSAL) == []
        assert _balance(rig) == 700_00 and rig.ledger_balance() == Decimal("700.00")
        older.rollback()

    assert _swept(rig, *NOW)[-1] == "1 orphaned payout debit(s) older than 0s: 1 reversed"
    assert rig.ledger_balance() == Decimal("1000.00") and _balance(rig) == 1000_00


def test_the_command_keeps_its_window_refuses_bad_input_and_its_dry_run_changes_nothing(
        rig: Rig) -> None:
    debit = _orphan(rig, "125.50", "po-dry")
    _settled()

    assert _swept(rig) == ["no orphaned payout debits older than 15m"]  # the default window
    (line, summary) = _swept(rig, *NOW, "--dry-run")
    assert line.startswith(f"would reverse payout debit {debit.pk} ({debit.reference}, wallet "
                           f"{rig.wallet.pk}, 125.50, ")
    assert summary == "1 orphaned payout debit(s) older than 0s (dry run): 1 would reverse"
    assert rig.ledger_postings("payout_reversal") == [] and rig.legacy(TXN_PAYOUT_REVERSAL) == []
    assert _balance(rig) == 874_50 and rig.ledger_balance() == Decimal("874.50")

    for bad in ("15 minutes", "0.5h", "m"):
        refused = _sweep(rig, "--older-than", bad)
        assert refused.returncode == 1 and refused.stdout == ""
        assert f"--older-than: {bad!r} is not a duration like 90s, 30m" in refused.stderr
        assert "nothing was swept" in refused.stderr
    assert rig.ledger_postings("payout_reversal") == []

    unreachable = _sweep(rig, *NOW, ledger_port=free_port())  # the ledger down: said, kept for next time
    assert unreachable.returncode == 1, unreachable.stderr[-3000:]
    assert unreachable.stdout.startswith(f"failed        payout debit {debit.pk} ")
    assert "LEDGER_UNAVAILABLE" in unreachable.stdout
    assert "1 orphaned payout debit(s) could not be reversed" in unreachable.stderr
    assert rig.legacy(TXN_PAYOUT_REVERSAL) == [] and _balance(rig) == 874_50

    assert _swept(rig, *NOW)[-1] == "1 orphaned payout debit(s) older than 0s: 1 reversed"
    assert rig.ledger_balance() == Decimal("1000.00") and _balance(rig) == 1000_00


def test_the_port_answers_a_reversed_debit_s_replay_409_and_a_live_one_s_as_before(rig: Rig) -> None:
    url = f"{rig.service}/internal/v1/wallets/{rig.wallet.pk}/postings/"

    def post(kind: str, reference: str, key: str) -> httpx.Response:
        return httpx.post(url, json={"kind": kind, "amount": "10.00", "reference": reference},
                          headers={"Authorization": f"Service {_token()}", "Idempotency-Key": key})

    first = post("payout", "payout:777001", "debit-live")
    assert first.status_code == 201
    assert post("payout", "payout:777002", "debit-live").json() == first.json()  # a replay: the same posting
    assert post("payout", "payout:777003", "debit-reversed").status_code == 201
    assert post("payout_reversal", "payout:777003", "payout-reversal:777003").status_code == 201

    refused = post("payout", "payout:777004", "debit-reversed")
    assert refused.status_code == 409
    assert (refused.json()["status"], refused.json()["error_code"]) == ("error", "PAYOUT_DEBIT_REVERSED")
    assert post("payout", "payout:777005", "debit-live").json() == first.json()  # still live
    assert post("payout_reversal", "payout:777003", "payout-reversal:777003").status_code == 201  # replay
    assert rig.ledger_balance() == Decimal("990.00")  # one live debit; the reversed one came back
