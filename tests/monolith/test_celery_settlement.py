"""settle_payout on a REAL Celery worker (subprocess, filesystem broker, the test database).

The payout is created through the API with real commits (transactional test), so the
task is enqueued by ``delay_on_commit``; a ``celery worker`` process started here
settles it against the same test database, and the test waits with a deadline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from monolith.payouts.models import PAYOUT_FAILED, PAYOUT_PAID, PAYOUT_PROCESSING, Payout
from monolith.wallets.models import Wallet

from .conftest import Api

pytestmark = pytest.mark.django_db(transaction=True)

DEADLINE_SECONDS = 90


def _test_database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgresql://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A celery worker on the same broker folder as this process, using the test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "monolith.settings",
        # The broker folder is derived from STRANGLER_HOME: it must match this process's.
        "STRANGLER_HOME": str(Path(settings.CELERY_FOLDER).parent),
        "STRANGLER_MONOLITH_DATABASE_URL": _test_database_url(),
        "STRANGLER_LOG_FORMAT": "console",
    }
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "monolith.celery_app", "worker",
         "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-n", f"settle-test-{os.getpid()}@%h"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(Path(__file__).parents[2]),
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    log.close()
    print((tmp_path / "worker.log").read_text(errors="replace")[-4000:])


def _wait_until_settled(payout_ids: list[int], worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        statuses = set(Payout.objects.filter(pk__in=payout_ids).values_list("status", flat=True))
        if PAYOUT_PROCESSING not in statuses:
            return
        assert worker.poll() is None, "the celery worker exited early; see its log above"
        time.sleep(0.2)  # polling interval, not a correctness wait: the deadline decides
    raise AssertionError(f"payouts {payout_ids} not settled within {DEADLINE_SECONDS}s")


def test_real_worker_settles_paid_and_failed_payouts(
    make_api: Callable[[str], Api], make_wallet: Callable[..., Wallet],
    worker: subprocess.Popen[bytes],
) -> None:
    api = make_api("Celery")
    wallet = make_wallet(api.merchant, balance=100_00)
    ids = []
    for number, key in (("123456781234", "ok"), ("123456780000", "fails")):
        account = api.post("/api/v1/bank-accounts/", {
            "account_number": number, "ifsc": "HDFC0001234", "holder_name": "H"}).json()
        response = api.post("/api/v1/payouts/", {"wallet_id": wallet.pk,
                                                 "bank_account_id": account["id"],
                                                 "amount": "10.00"}, {"Idempotency-Key": key})
        assert response.status_code == 201
        ids.append(response.json()["id"])
    _wait_until_settled(ids, worker)
    paid, failed = Payout.objects.get(pk=ids[0]), Payout.objects.get(pk=ids[1])
    assert (paid.status, bool(paid.provider_ref)) == (PAYOUT_PAID, True)
    assert (failed.status, bool(failed.failure_reason)) == (PAYOUT_FAILED, True)
    wallet.refresh_from_db()
    assert wallet.balance == 90_00  # one 10.00 paid out, the failed one reversed
    assert api.get(f"/api/v1/payouts/{ids[0]}/").json()["status_display"] == "PAID"
