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
