"""Idempotency-Keys survive the write cutover: a retry the ledger gets of a write the monolith ran.

The monolith runs a keyed credit (committed in its test database); the records are copied
(``idempotency_handover.copy_keys``); the same request to the ledger service answers the
monolith's stored bytes and posts nothing, and another request under the key is a 422.
"""

from __future__ import annotations

import pytest

from extracted.ledger_query.handover import copy_keys, hand_ids_to_ledger, hand_ids_to_monolith
from tests.extracted.ledger_query.ledger_service import django_database_url
from tests.extracted.ledger_query.test_write_parity import CREDIT, Sides

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_write_the_monolith_ran_is_not_run_again_by_the_ledger_after_the_cutover(
        ledger_service: tuple[str, str]) -> None:
    ledger_url, _ = ledger_service
    sides = Sides(*ledger_service)
    headers = {"Authorization": f"Api-Key {sides.key}", "Idempotency-Key": "before-the-cutover"}
    path, body = sides.path(CREDIT), b'{"amount": "10.00"}'
    first = sides.monolith("POST", path, body, dict(headers))
    assert first.status == 201

    assert copy_keys(django_database_url("default"), ledger_url) >= 1
    assert copy_keys(django_database_url("default"), ledger_url) == 0  # again: nothing new

    retried = sides.ledger("POST", path, body, dict(headers))
    assert (retried.status, retried.body) == (201, first.body)  # the monolith's bytes, its posting id
    assert sides.state.one("SELECT count(*) FROM ledger_write_event WHERE wallet_id = %s",
                           sides.wallets["A"]) == 0
    other = sides.ledger("POST", path, b'{"amount": "10.01"}', dict(headers))
    assert (other.status, other.body) == (422, sides.monolith("POST", path, b'{"amount": "10.01"}',
                                                              dict(headers)).body)


def test_after_each_hand_over_the_new_writer_s_ids_come_after_the_other_side_s(
        ledger_service: tuple[str, str]) -> None:
    """Rollback: the monolith continues above the ledger's ids; a new cutover: the ledger above those."""
    ledger_url, _ = ledger_service
    sides = Sides(*ledger_service)
    auth = {"Authorization": f"Api-Key {sides.key}"}
    by_ledger = sides.ledger("POST", sides.path(CREDIT), b'{"amount": "1.00"}', dict(auth))
    ledger_id = int(by_ledger.body.split(b'"id":')[1].split(b",")[0])
    monolith_url = django_database_url("default")

    assert hand_ids_to_monolith(monolith_url, ledger_url) > ledger_id
    by_monolith = sides.monolith("POST", sides.path(CREDIT), b'{"amount": "1.00"}', dict(auth))
    monolith_id = int(by_monolith.body.split(b'"id":')[1].split(b",")[0])
    assert monolith_id > ledger_id

    assert hand_ids_to_ledger(monolith_url, ledger_url) > monolith_id
    again = sides.ledger("POST", sides.path(CREDIT), b'{"amount": "1.00"}', dict(auth))
    assert int(again.body.split(b'"id":')[1].split(b",")[0]) > monolith_id
    assert hand_ids_to_ledger(monolith_url, ledger_url) > monolith_id  # forward only, repeatable
