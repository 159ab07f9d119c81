"""The worker end to end on real processes: Tansu broker -> consumer (inbox) -> PostgreSQL ->
dispatcher -> an aiosmtpd server process, read back from its Maildir."""

from __future__ import annotations

import json
from email.message import Message
from pathlib import Path

import psycopg

from extracted.notifications.consume import DEAD_LETTER_TOPIC
from extracted.notifications.decisions import DecisionUnavailable, MemoryDecisions
from tests.acl.helpers import wait_until
from tests.extracted.ledger_query.events import dead_letters
from tests.extracted_notifications.conftest import WorkerFactory, channel_map
from tests.extracted_notifications.records import Customer, event, publish, rows
from tests.extracted_notifications.servers import SmtpServer

DEADLINE = 60


class Extracted(MemoryDecisions):
    """Every correlation id was handed over to the service, unless listed otherwise."""

    def mode_for(self, correlation_id: str | None) -> str:
        return self.modes.get(correlation_id or "", "extracted")


def _to(smtp: SmtpServer, address: str | None) -> list[Message]:
    """The e-mails to ``address`` (the broker is shared by the session: earlier tests' events replay)."""
    return [m for m in smtp.messages() if m["To"] == address]


def _sent(db: str, *event_ids: str) -> bool:
    found = rows(db, "SELECT count(*) FROM notifications_notification WHERE event_id = ANY(%s)"
                     " AND status = 'sent'", list(event_ids))
    return int(found[0][0]) >= len(event_ids)


def test_a_redelivered_event_is_emailed_once(
        start_worker: WorkerFactory, smtp: SmtpServer, kafka_bootstrap: str, notifications_db: str,
        tmp_path: Path) -> None:
    start_worker(Extracted(), channel_map(smtp.port, tmp_path / "out"))
    asha = Customer()
    first = asha.credit(1, "req-1", amount="123.45")
    publish(kafka_bootstrap, [asha.registered(), asha.wallet_opened(), first, first])
    marker = asha.credit(2, "req-2")  # on the same partition, after the duplicate
    publish(kafka_bootstrap, [first, marker])
    wait_until(lambda: _sent(notifications_db, first.event_id, marker.event_id), DEADLINE, "both sent")
    wait_until(lambda: len(_to(smtp, asha.email)) >= 2, 10, "both e-mails to arrive")
    mails = _to(smtp, asha.email)
    assert len(mails) == 2
    assert sorted(m["Message-ID"].split(".")[0] for m in mails) == sorted(
        f"<{e.event_id}" for e in (first, marker))
    got = next(m for m in mails if first.event_id in m["Message-ID"])
    assert got["Subject"] == "Money added to your wallet"
    body = got.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert body.decode().strip() == f"INR 123.45 was credited to wallet {asha.wallet}."


def test_a_customer_not_heard_of_yet_is_notified_once_their_events_arrive(
        start_worker: WorkerFactory, smtp: SmtpServer, kafka_bootstrap: str, notifications_db: str,
        tmp_path: Path) -> None:
    start_worker(Extracted(), channel_map(smtp.port, tmp_path / "out"))
    late = Customer()
    early = late.credit(1, "req-early")
    publish(kafka_bootstrap, [early])
    wait_until(lambda: bool(rows(notifications_db, "SELECT 1 FROM notifications_parked WHERE event_id = %s",
                                 early.event_id)), DEADLINE, "the credit to wait for its wallet")
    publish(kafka_bootstrap, [late.wallet_opened()])
    wait_until(lambda: rows(notifications_db, "SELECT waiting_kind FROM notifications_parked"
                                              " WHERE event_id = %s", early.event_id) == [("customer",)],
               DEADLINE, "the credit to wait for its customer next")
    publish(kafka_bootstrap, [late.registered()])
    wait_until(lambda: _sent(notifications_db, early.event_id), DEADLINE, "the parked credit to be sent")
    wait_until(lambda: len(_to(smtp, late.email)) >= 1, 10, "the e-mail to arrive")
    assert len(_to(smtp, late.email)) == 1
    assert rows(notifications_db, "SELECT count(*) FROM notifications_parked WHERE event_id = %s",
                early.event_id) == [(0,)]


def test_preferences_and_locale_choose_channels_and_language(
        start_worker: WorkerFactory, smtp: SmtpServer, kafka_bootstrap: str, notifications_db: str,
        tmp_path: Path) -> None:
    outbox = tmp_path / "out"
    start_worker(Extracted(), channel_map(smtp.port, outbox))
    ravi = Customer(phone="+919800000002")
    publish(kafka_bootstrap, [ravi.registered(), ravi.wallet_opened()])
    wait_until(lambda: bool(rows(notifications_db, "SELECT 1 FROM notifications_wallet WHERE wallet_id = %s",
                                 ravi.wallet)), DEADLINE, "the wallet to be known")
    sql = ("INSERT INTO notifications_preference (customer_id, kind, channel, enabled) VALUES"
                " (%s, '*', 'sms', true), (%s, 'wallet.credited', 'email', false)")
    with psycopg.connect(notifications_db) as conn:
        conn.execute(sql, (ravi.id, ravi.id))
        conn.execute("INSERT INTO notifications_locale VALUES (%s, 'hi-IN')", (ravi.id,))
    credit = ravi.credit(1, "req-3")
    publish(kafka_bootstrap, [credit])
    wait_until(lambda: _sent(notifications_db, credit.event_id), DEADLINE, "the SMS to be sent")
    records = rows(notifications_db, "SELECT channel, recipient, locale FROM notifications_notification"
                                     " WHERE event_id = %s", credit.event_id)
    assert records == [("sms", "+919800000002", "hi")]
    [line] = [json.loads(x) for x in (outbox / "sms.jsonl").read_text().splitlines()]
    assert "जमा" in line["body"]  # the Hindi template's text
    assert _to(smtp, ravi.email) == []


def test_shadow_records_without_sending_and_monolith_mode_records_nothing(
        start_worker: WorkerFactory, smtp: SmtpServer, kafka_bootstrap: str, notifications_db: str,
        tmp_path: Path) -> None:
    start_worker(Extracted({"req-shadow": "shadow", "req-mono": "monolith"}),
                 channel_map(smtp.port, tmp_path / "out"))
    asha = Customer()
    shadow, legacy, marker = asha.credit(1, "req-shadow"), asha.credit(2, "req-mono"), asha.credit(3, "req-x")
    publish(kafka_bootstrap, [asha.registered(), asha.wallet_opened(), shadow, legacy, marker])
    wait_until(lambda: _sent(notifications_db, marker.event_id), DEADLINE, "the marker to be sent")
    found = dict(rows(notifications_db, "SELECT event_id, status FROM notifications_notification"
                                        " WHERE event_id = ANY(%s)",
                      [shadow.event_id, legacy.event_id, marker.event_id]))
    assert found == {shadow.event_id: "shadowed", marker.event_id: "sent"}
    wait_until(lambda: len(_to(smtp, asha.email)) >= 1, 10, "the marker e-mail")
    assert len(_to(smtp, asha.email)) == 1


def test_bad_events_are_dead_lettered_with_the_reason_and_the_worker_goes_on(
        start_worker: WorkerFactory, smtp: SmtpServer, kafka_bootstrap: str, notifications_db: str,
        tmp_path: Path) -> None:
    start_worker(Extracted(), channel_map(smtp.port, tmp_path / "out"))
    asha = Customer()
    broken = event("paystream.wallet.credited.v1", "wallet", str(asha.wallet),
                   {"wallet_id": str(asha.wallet), "amount": "not money"}, "req-bad")
    newer = event("paystream.wallet.credited.v2", "wallet", str(asha.wallet),
                  json.loads(asha.credit(5, "req-v2").value), "req-v2")
    good = asha.credit(6, "req-good")
    publish(kafka_bootstrap, [asha.registered(), asha.wallet_opened(), broken, newer, good])
    found = dead_letters(kafka_bootstrap, DEAD_LETTER_TOPIC, {broken.event_id, newer.event_id},
                         timeout=DEADLINE)
    assert "ContractViolation" in found[broken.event_id]["dlq_error"]
    assert "version v2 is unknown" in found[newer.event_id]["dlq_error"]
    wait_until(lambda: _sent(notifications_db, good.event_id), DEADLINE, "the good event after them")
    assert rows(notifications_db, "SELECT count(*) FROM notifications_notification WHERE event_id = ANY(%s)",
                [broken.event_id, newer.event_id]) == [(0,)]


class Unreachable(Extracted):
    """The monolith's database is down until ``back`` is set."""

    back = False

    def mode_for(self, correlation_id: str | None) -> str:
        if not self.back:
            raise DecisionUnavailable("connection refused")
        return super().mode_for(correlation_id)


def test_an_unreadable_decision_parks_the_event_and_it_is_sent_once_the_monolith_answers(
        start_worker: WorkerFactory, smtp: SmtpServer, kafka_bootstrap: str, notifications_db: str,
        tmp_path: Path) -> None:
    decisions = Unreachable()
    service = start_worker(decisions, channel_map(smtp.port, tmp_path / "out"))
    service.retry_undecided_every = 0.2
    asha = Customer()
    waiting = asha.credit(1, "req-down")
    publish(kafka_bootstrap, [asha.registered(), asha.wallet_opened(), waiting])
    wait_until(lambda: rows(notifications_db, "SELECT waiting_kind FROM notifications_parked"
                                              " WHERE event_id = %s", waiting.event_id) == [("decision",)],
               DEADLINE, "the event to wait for a decision")
    assert _to(smtp, asha.email) == []
    decisions.back = True
    wait_until(lambda: _sent(notifications_db, waiting.event_id), DEADLINE, "the parked event to be sent")
    wait_until(lambda: len(_to(smtp, asha.email)) >= 1, 10, "the e-mail")
    assert len(_to(smtp, asha.email)) == 1


def test_payouts_and_kyc_decisions_are_told_with_the_monoliths_words(
        start_worker: WorkerFactory, smtp: SmtpServer, kafka_bootstrap: str, notifications_db: str,
        tmp_path: Path) -> None:
    start_worker(Extracted(), channel_map(smtp.port, tmp_path / "out"))
    asha = Customer()
    payout = str(asha.wallet + 1)
    status = {"payout_id": payout, "wallet_id": str(asha.wallet), "previous_status": "processing",
              "failure_reason": None, "provider_reference": "BANK1", "changed_at": "2026-01-01T00:00:03Z"}
    publish(kafka_bootstrap, [
        asha.registered(), asha.wallet_opened(),
        # the status change first: it waits for the payout's amount, carried by payout.requested
        event("paystream.payout.status_changed.v1", "payout", payout, {**status, "status": "paid"},
              "req-paid"),
        event("paystream.payout.requested.v1", "payout", payout, {
            "payout_id": payout, "wallet_id": str(asha.wallet), "merchant_id": "1",
            "amount": {"amount": "250.00", "currency": "INR"}, "requested_at": "2026-01-01T00:00:02Z"},
            "req-payout"),
        event("paystream.kyc.rejected.v1", "customer", str(asha.id), {
            "submission_id": "5", "customer_id": str(asha.id), "document_type": "pan",
            "reason": "blurred scan", "rejected_at": "2026-01-01T00:00:04Z"}, "req-kyc"),
    ])
    wait_until(lambda: len(_to(smtp, asha.email)) >= 3, DEADLINE, "three e-mails")
    told = {}
    for mail in _to(smtp, asha.email):
        body = mail.get_payload(decode=True)
        assert isinstance(body, bytes)
        told[mail["Subject"]] = body.decode().strip()
    assert told == {
        "Payout initiated": f"A payout of 250.00 from wallet {asha.wallet} is on its way.",
        "Payout paid": f"Payout {payout} of 250.00: PAID.",
        "Your KYC was rejected": "Your identity documents were rejected: blurred scan",
    }
