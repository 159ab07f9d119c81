"""Serve a proxy instance's Prometheus registry over HTTP, on its own port.

Kept off the data plane's port so no client request can reach it or be confused with it, and
served from prometheus_client's own thread so a scrape never runs on the event loop.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import start_http_server

from routing_proxy.dataplane.server import ProxyServer


def expose_metrics(server: ProxyServer, host: str, port: int) -> Any:
    """Start ``/metrics`` for ``server``'s registry on ``host:port`` (0 = any free port).

    Returns prometheus_client's WSGI server (``.server_port`` is the bound port; ``.shutdown()``
    stops it).
    """
    httpd, _thread = start_http_server(port, addr=host, registry=server.metrics.registry)
    return httpd
