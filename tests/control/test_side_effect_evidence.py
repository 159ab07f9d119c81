"""Gate evidence for capabilities without routes: the deliveries both sides made, compared."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from django.db import connections

from strangler.config import reset_settings_cache
from strangler.control.routing import evidence
from strangler.control.routing.gates import Verdict, evaluate_gate
from strangler.control.shadow import side_effects
from strangler.control.shadow.side_effects import Parity, side_effect_evidence
from tests.extracted_notifications.conftest import migrate_notifications
from tests.extracted_webhooks.conftest import migrate_webhooks

WEEK = timedelta(days=7)


@pytest.fixture
def min_samples(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    def set_to(n: int) -> None:
        monkeypatch.setenv("STRANGLER_SHADOW_MIN_SAMPLES", str(n))
        reset_settings_cache()

    yield set_to
    monkeypatch.delenv("STRANGLER_SHADOW_MIN_SAMPLES", raising=False)
    reset_settings_cache()


def source(found: Parity | Exception) -> Callable[[datetime], Parity]:
    def read(since: datetime) -> Parity:
        if isinstance(found, Exception):
            raise found
        return found

    return read


def test_one_differing_delivery_fails_the_gate_naming_it(monkeypatch: pytest.MonkeyPatch,
                                                         min_samples: Callable[[int], None]) -> None:
    min_samples(2)
    monkeypatch.setitem(side_effects.SOURCES, "webhooks.delivery",
                        source(Parity(500, ["ledger:7 → https://m.example/hook: amount: 10.00 ≠ 100.00"])))
    found = side_effect_evidence("webhooks.delivery", WEEK)
    assert found.verdict is Verdict.FAILED
    assert "1 of 500 deliveries differ" in found.detail and "amount: 10.00 ≠ 100.00" in found.detail


def test_too_few_deliveries_is_insufficient_and_enough_clean_ones_pass(
        monkeypatch: pytest.MonkeyPatch, min_samples: Callable[[int], None]) -> None:
    min_samples(3)
    monkeypatch.setitem(side_effects.SOURCES, "notifications.email", source(Parity(2)))
    few = side_effect_evidence("notifications.email", WEEK)
    assert few.verdict is Verdict.INSUFFICIENT and "2 deliveries compared, 3 needed" in few.detail
    monkeypatch.setitem(side_effects.SOURCES, "notifications.email", source(Parity(3)))
    assert side_effect_evidence("notifications.email", WEEK).verdict is Verdict.OK


def test_an_unreadable_database_is_missing_evidence_never_a_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(side_effects.SOURCES, "webhooks.delivery", source(RuntimeError("connection refused")))
    found = side_effect_evidence("webhooks.delivery", WEEK)
    assert found.verdict is Verdict.INSUFFICIENT and "connection refused" in found.detail


@pytest.mark.django_db(databases=["control"])
def test_the_gate_for_a_side_effect_reads_parity_and_needs_no_reconciliation(
        monkeypatch: pytest.MonkeyPatch, min_samples: Callable[[int], None]) -> None:
    min_samples(1)
    monkeypatch.setitem(side_effects.SOURCES, "webhooks.delivery", source(Parity(10)))
    result = evaluate_gate("webhooks.delivery", "extracted", 0, evidence.collect("webhooks.delivery"))
    assert result.holds, result.summary
    reconciliation = next(e for e in result.evidence if e.source == "reconciliation")
    assert reconciliation.detail.startswith("not applicable")
    # an HTTP capability still needs its certificate
    plain = evaluate_gate("wallets.transactions", "extracted", 0, evidence.collect("wallets.transactions"))
    assert not plain.holds


@pytest.mark.django_db(databases=["default"])
def test_the_real_comparisons_read_the_real_schemas(fresh_database: Callable[[str], str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Both adapters against migrated databases: nothing delivered yet is 0 compared, not an error."""
    s = connections["default"].settings_dict
    monkeypatch.setenv("STRANGLER_MONOLITH_DATABASE_URL",
                       f"postgresql://{s['USER']}@{s['HOST']}:{s['PORT']}/{s['NAME']}")
    hooks, notes = fresh_database("webhooks"), fresh_database("notifications")
    migrate_webhooks(hooks)
    migrate_notifications(notes)
    monkeypatch.setenv("STRANGLER_WEBHOOKS_DATABASE_URL", hooks)
    monkeypatch.setenv("STRANGLER_NOTIFICATIONS_DATABASE_URL", notes)
    reset_settings_cache()
    try:
        for capability in ("webhooks.delivery", "notifications.email"):
            found = side_effect_evidence(capability, WEEK)
            assert found.verdict is Verdict.INSUFFICIENT, found.detail
            assert found.facts["compared"] == 0, found.detail
    finally:
        monkeypatch.undo()
        reset_settings_cache()


def test_deliveries_still_in_flight_or_before_the_window_are_not_judged() -> None:
    """Under live traffic the newest occurrences are on their way to the other side: counting them
    as missing would fail the gate for ever."""
    from datetime import UTC, datetime

    from extracted.webhooks.parity import LegacySent, Pair, ServiceWould
    from strangler.control.shadow.side_effects import judged

    now = datetime.now(UTC)
    since, until = now - WEEK, now - side_effects.IN_FLIGHT

    def legacy(at: datetime) -> LegacySent:
        return LegacySent(1, "https://m.example/hook", "wallet.credited", "{}", 200, at)

    def service(at: datetime) -> ServiceWould:
        return ServiceWould(1, "https://m.example/hook", "wallet.credited", "e", "{}", "shadowed",
                            "shadow", "", at)

    inside = Pair("ledger:1", "u", legacy(now - timedelta(days=1)), None, ("missing",))
    in_flight = Pair("ledger:2", "u", legacy(now - timedelta(seconds=5)), None, ("missing",))
    extra_before = Pair("ledger:3", "u", None, service(since - timedelta(seconds=30)), ("extra",))
    extra_inside = Pair("ledger:4", "u", None, service(now - timedelta(hours=1)), ("extra",))
    assert judged([inside, in_flight, extra_before, extra_inside], since, until) == [inside, extra_inside]
