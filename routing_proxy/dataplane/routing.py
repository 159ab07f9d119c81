"""Routing behaviour: holds the serving RouteTable and turns a request head into a Decision.

The table is swapped whole by ``reload``; a request reads ``self.table`` once, so
it is routed entirely by one version even while a reload happens. A compatibility
shim's template was compiled with the table; a route without one costs one ``is None``.
"""

from __future__ import annotations

from routing_proxy.canary_key import sticky_key_value
from routing_proxy.dataplane.http import RequestHead
from routing_proxy.decision import MONOLITH, Decision, decide, match
from routing_proxy.errors import StaleRouteTableError
from routing_proxy.routes import Mode, RouteTable
from routing_proxy.traffic import RouteTraffic


class Router:
    def __init__(self, table: RouteTable) -> None:
        self.table = table
        self.traffic = RouteTraffic()  # per-route hits, flushed by the control client

    @property
    def version(self) -> int:
        return self.table.version

    def reload(self, table: RouteTable) -> bool:
        """Serve ``table`` from the next request on. False if that version already serves."""
        current = self.table
        if table.version < current.version:
            raise StaleRouteTableError(table.version, current.version)
        if table.version == current.version:
            return False
        self.table = table
        return True

    def route(self, head: RequestHead) -> tuple[Decision, tuple[str, str] | None, bytes | None]:
        """The decision; the matched rule (method, path template) for the traffic record; and,
        for a shim sent to (or shadowed on) its extracted upstream, the target it gets there
        (None: the client's own). Raises ClientRequestError(400) for a path parameter the
        shim's template refuses (``routing_proxy.rewrite``)."""
        table = self.table
        found = match(table, head.method, head.path, head.headers.get("host"), head.headers)
        key = None
        if found is not None and found.capability.mode is Mode.CANARY:
            key = sticky_key_value(found.capability.sticky_key, head.headers, found.params,
                                   head.query)
        decision = decide(table, found, head.method, key)
        if found is None:
            return decision, None, None
        rule = found.rule
        route_key = (rule.method, rule.path)
        to_monolith = decision.upstream == MONOLITH
        rewrite = rule.rewrite
        target = (None if rewrite is None or (to_monolith and not decision.shadow)
                  else rewrite.target(found.params, head.target))
        self.traffic.hit(*route_key, monolith=to_monolith)
        return decision, route_key, target
