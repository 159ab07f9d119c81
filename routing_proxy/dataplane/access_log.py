"""Access log: one structlog event per request, carrying the request id and the decision.

Never logs header values or the sticky key: they may be API keys.
"""

from __future__ import annotations

from typing import Any

import structlog

from routing_proxy.dataplane.http import RequestHead
from routing_proxy.decision import Decision


class AccessLog:
    def __init__(self, enabled: bool = True, logger: Any = None) -> None:
        self.enabled = enabled
        self.logger = logger if logger is not None else structlog.get_logger("routing_proxy.access")

    def record(self, head: RequestHead, decision: Decision, upstream: str, status: int,
               seconds: float, fallback: bool) -> None:
        if not self.enabled:
            return
        self.logger.info(
            "proxy.request", request_id=head.request_id, method=head.method, path=head.path,
            status=status, capability=decision.capability or None,
            mode=str(decision.mode) if decision.mode else None, reason=decision.reason,
            upstream=upstream, fallback=fallback, duration_ms=round(seconds * 1000, 3),
            client_ip=head.client_ip,
        )
