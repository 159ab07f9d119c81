"""Every per-request behaviour of the data plane, listed and wired in one place.

Order in which a request meets them: request id -> header hygiene -> routing ->
read-your-writes fence -> (upstream call) -> fallback -> shadow tee -> metrics -> access log.
"""

from __future__ import annotations

from dataclasses import dataclass

from routing_proxy.dataplane.access_log import AccessLog
from routing_proxy.dataplane.config import ProxyConfig
from routing_proxy.dataplane.fallback import FallbackPolicy
from routing_proxy.dataplane.hygiene import HeaderHygiene
from routing_proxy.dataplane.metrics import ProxyMetrics
from routing_proxy.dataplane.request_id import RequestIdAssigner
from routing_proxy.dataplane.routing import Router
from routing_proxy.dataplane.shadow import ShadowSink, ShadowTee
from routing_proxy.fence import ReadYourWrites
from routing_proxy.routes import RouteTable


@dataclass(frozen=True)
class Behaviours:
    request_id: RequestIdAssigner
    hygiene: HeaderHygiene
    router: Router
    fallback: FallbackPolicy
    fence: ReadYourWrites
    shadow: ShadowTee
    metrics: ProxyMetrics
    access_log: AccessLog


def build_behaviours(config: ProxyConfig, table: RouteTable, *, shadow_sink: ShadowSink | None,
                     metrics: ProxyMetrics | None = None,
                     access_log: AccessLog | None = None) -> Behaviours:
    metrics = metrics or ProxyMetrics()
    return Behaviours(
        request_id=RequestIdAssigner(),
        hygiene=HeaderHygiene(config.forwarded_proto, config.instance_id),
        router=Router(table),
        fallback=FallbackPolicy(config.fallback_enabled, config.fallback_statuses, metrics),
        fence=ReadYourWrites(config.fence),
        shadow=ShadowTee(shadow_sink, config.shadow_queue_size, config.shadow_max_body, metrics),
        metrics=metrics,
        access_log=access_log or AccessLog(config.access_log),
    )
