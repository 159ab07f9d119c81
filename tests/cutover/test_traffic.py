"""The per-route traffic record: proxies flush counts with their heartbeat; `routes unused` reads them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import psycopg
import pytest
from django.utils import timezone

from migrations.decommission import RouteUse, classify
from routing_proxy.traffic import RouteTraffic, flush
from strangler.control.cutover.models import RouteTraffic as TrafficRow
from strangler.control.cutover.traffic import unused_routes
from strangler.control.routing import services as routing
from tests.control.conftest import control_url

PATH = "/api/v1/wallets/{wallet_id}/transactions/"


def test_counts_drained_by_a_failed_flush_are_kept_for_the_next_one() -> None:
    traffic = RouteTraffic()
    for _ in range(3):
        traffic.hit("GET", PATH)

    async def broken() -> None:
        async with await psycopg.AsyncConnection.connect("postgresql://nobody@127.0.0.1:1/x",
                                                         connect_timeout=1) as conn:
            await flush(conn, traffic)

    with pytest.raises(psycopg.OperationalError):
        asyncio.run(broken())
    assert traffic.counts == {("GET", PATH): 3}


def test_a_young_record_never_calls_a_route_unused() -> None:
    now = timezone.now()
    use = RouteUse("payouts", "monolith", "GET", "/api/v1/payouts/", 0, None)
    (young,) = classify([use], now - timedelta(days=60), now - timedelta(days=2))
    (covered,) = classify([use], now - timedelta(days=60), now - timedelta(days=61))
    assert not young.unused and "wait" in young.advice
    assert covered.unused and "can be removed" in covered.advice


@pytest.mark.django_db(databases=["control"], transaction=True)
def test_flushed_hits_mark_a_shim_in_use_and_routes_without_traffic_are_listed_unused(
        table: object) -> None:
    routing.flip("wallets.transactions", "extracted", reason="t", actor="t", force=True)
    traffic = RouteTraffic()
    for _ in range(5):
        traffic.hit("GET", PATH)

    async def heartbeat_flush() -> int:
        async with await psycopg.AsyncConnection.connect(control_url(), autocommit=True) as conn:
            first = await flush(conn, traffic)
            traffic.hit("GET", PATH)
            return first + await flush(conn, traffic)

    assert asyncio.run(heartbeat_flush()) == 6
    assert traffic.counts == {}
    (row,) = TrafficRow.objects.using("control").all()
    assert row.hits == 6  # two flushes in one minute add up in one row
    TrafficRow.objects.using("control").create(minute=timezone.now() - timedelta(days=90),
                                               method="GET", path="/api/v1/payouts/", hits=1)

    verdicts, since = unused_routes(days=60)

    assert since is not None and since < timezone.now() - timedelta(days=60)
    by_path = {v.use.path: v for v in verdicts}
    assert by_path["/api/v1/payouts/"].unused  # its only hit is older than the window
    assert by_path["/api/v1/payouts/"].use.last_hit is not None
    shim = by_path[PATH]
    assert not shim.unused and shim.use.hits == 6 and "shim in use" in shim.advice


def test_the_monolith_share_of_a_routes_hits_is_counted_apart_and_kept_on_a_failed_flush() -> None:
    traffic = RouteTraffic()
    traffic.hit("GET", PATH)
    traffic.hit("GET", PATH, monolith=False)
    drained = traffic.drain()
    assert drained == ({("GET", PATH): 2}, {("GET", PATH): 1})
    traffic.restore(drained)
    assert traffic.counts == {("GET", PATH): 2} and traffic.monolith_counts == {("GET", PATH): 1}


@pytest.mark.django_db(databases=["control"], transaction=True)
def test_decommissioning_waits_for_a_whole_window_without_the_monolith_serving_the_routes(
        table: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from strangler.config import reset_settings_cache
    from strangler.control.cutover.evidence import legacy_traffic_evidence
    from strangler.control.cutover.services import plan_for
    from strangler.control.routing.gates import Verdict

    monkeypatch.setenv("STRANGLER_DECOMMISSION_WINDOW", "10m")
    reset_settings_cache()
    plan = plan_for("wallets.transactions")
    rows = TrafficRow.objects.using("control")
    assert legacy_traffic_evidence(plan).verdict is Verdict.INSUFFICIENT  # no record yet
    now = timezone.now().replace(second=0, microsecond=0)
    rows.create(minute=now - timedelta(minutes=30), method="GET", path=PATH, hits=9, monolith_hits=9)
    # clients still call the path, but the proxy sends every call to the extracted service
    rows.create(minute=now - timedelta(minutes=5), method="GET", path=PATH, hits=40, monolith_hits=0)
    ok = legacy_traffic_evidence(plan)
    assert ok.verdict is Verdict.OK and "10m" in ok.detail
    # a minute bucket straddling the window's start counts as inside it
    straddling = (timezone.now() - timedelta(minutes=10)).replace(second=0, microsecond=0)
    rows.create(minute=straddling, method="GET", path=PATH, hits=1, monolith_hits=1)
    failed = legacy_traffic_evidence(plan)
    assert failed.verdict is Verdict.FAILED and "served 1 requests" in failed.detail
    monkeypatch.delenv("STRANGLER_DECOMMISSION_WINDOW")
    reset_settings_cache()
