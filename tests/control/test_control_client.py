"""A proxy attached to the control plane applies each published version, and acks it by heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

import pytest
from django.db import connections

from routing_proxy.control_client import ControlClient, ControlClientConfig
from routing_proxy.routes import RouteTable
from strangler.control.routing import services
from strangler.control.routing.models import ProxyInstance
from tests.control.conftest import control_url
from tests.routing_proxy.helpers import Client, proxy, run, upstream, wait_for

pytestmark = pytest.mark.django_db(databases=["control"], transaction=True)
T = TypeVar("T")


async def in_thread(work: Callable[[], T]) -> T:
    """Django's ORM is synchronous: run service calls off the event loop, on their own connection."""
    def call() -> T:
        try:
            return work()
        finally:
            connections.close_all()

    return await asyncio.to_thread(call)


def attached(server: object, *, listen: bool = True, poll: float = 30.0) -> ControlClient:
    return ControlClient(server, ControlClientConfig(control_url(), poll_interval=poll,  # type: ignore[arg-type]
                                                     listen=listen, heartbeat_interval=0.2))


def test_a_flip_reaches_the_proxy_by_notify_and_changes_where_requests_go(table: object) -> None:
    async def scenario() -> None:
        async with upstream("monolith") as mono, upstream("extracted") as extr, \
                proxy(RouteTable(0), mono.url, extr.url) as server:
            client = attached(server)  # polling every 30 s: only NOTIFY can make this fast
            task = asyncio.create_task(client.run())
            try:
                await wait_for(lambda: server.version == 1)
                http = await Client.connect(server.port)
                before = await http.request("GET", "/api/v1/wallets/7/")
                assert before.json()["upstream"] == "monolith"
                result = await in_thread(lambda: services.flip(
                    "wallets", "extracted", reason="test", actor="t", force=True))
                await wait_for(lambda: server.version == result.version, timeout=5)
                after = await http.request("GET", "/api/v1/wallets/7/")
                assert after.json()["upstream"] == "extracted"
                http.close()
                propagation = await in_thread(lambda: services.wait_for_version(result.version, 5))
                assert propagation.applied == [server.config.instance_id] and not propagation.lagging
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                await client.deregister()

    run(scenario)
    assert not ProxyInstance.objects.exists(), "a cleanly stopped instance removes its row"


def test_polling_alone_picks_up_a_version_without_notify(table: object) -> None:
    async def scenario() -> None:
        async with upstream("monolith") as mono, proxy(RouteTable(0), mono.url, mono.url) as server:
            task = asyncio.create_task(attached(server, listen=False, poll=0.1).run())
            try:
                await wait_for(lambda: server.version == 1)
                result = await in_thread(lambda: services.flip("wallets", "shadow", reason="t", actor="t"))
                await wait_for(lambda: server.version == result.version, timeout=5)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    run(scenario)


def test_waiting_for_a_version_names_the_live_instances_that_did_not_apply_it(table: object) -> None:
    from django.utils import timezone

    now = timezone.now()
    ProxyInstance.objects.create(instance_id="stuck:1", host="h", port=1, version=1, applied_at=now,
                                 started_at=now, last_heartbeat=now)
    ProxyInstance.objects.create(instance_id="gone:2", host="h", port=2, version=1, applied_at=now,
                                 started_at=now, last_heartbeat=now - services.live_within() * 2)
    result = services.flip("wallets", "shadow", reason="t", actor="t")
    propagation = services.wait_for_version(result.version, timeout=0.2)
    assert propagation.lagging == ["stuck:1"], "a dead instance is not waited for"
