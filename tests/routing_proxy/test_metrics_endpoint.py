"""Each proxy instance serves its Prometheus metrics on a port of its own."""

from __future__ import annotations

import asyncio

import httpx

from routing_proxy.metrics_endpoint import expose_metrics
from routing_proxy.routes import Mode
from tests.routing_proxy.helpers import Client, proxy, run, upstream, wait_for
from tests.routing_proxy.test_dataplane import table


def test_metrics_endpoint_reports_requests_by_capability_mode_and_upstream() -> None:
    async def scenario() -> None:
        async with upstream("monolith") as mono, upstream("extracted") as ext, proxy(
            table(Mode.EXTRACTED), mono.url, ext.url
        ) as server:
            client = await Client.connect(server.port)
            assert (await client.request("GET", "/api/v1/wallets/7/transactions/")).status == 200
            client.close()
            # counted when the handler finishes, which may be just after the client has its answer
            labels = {"capability": "ledger.history", "mode": "extracted", "upstream": "extracted",
                      "status": "200"}
            await wait_for(lambda: server.metrics.value("strangler_proxy_requests_total", labels) == 1)
            httpd = expose_metrics(server, "127.0.0.1", 0)
            try:
                url = f"http://127.0.0.1:{httpd.server_port}/metrics"
                response = await asyncio.to_thread(httpx.get, url, timeout=5)
            finally:
                httpd.shutdown()
            assert response.status_code == 200
            requests = [line for line in response.text.splitlines()
                        if line.startswith("strangler_proxy_requests_total{")]
            assert any('mode="extracted"' in line and 'upstream="extracted"' in line
                       and line.endswith(" 1.0") for line in requests), requests

    run(scenario)
