"""Per-route traffic record: counted in the data plane, flushed to the control plane.

The hot path pays one dict increment per matched request (``RouteTraffic.hit``,
keyed by the rule's method and path template). The control client drains the
counts with each heartbeat (every second) and adds them to the minute's row of
``strangler_route_traffic`` in the same connection it already holds; a failed
flush puts the counts back so nothing is lost while the control plane is away.
``strangler routes unused`` reads that table. Raw SQL: the data plane does not
import Django.
"""

from __future__ import annotations

from typing import Any

import psycopg

Counts = dict[tuple[str, str], int]  # (method, path template) -> hits since the last flush

FLUSH_SQL = """
INSERT INTO strangler_route_traffic (minute, method, path, hits)
VALUES (date_trunc('minute', clock_timestamp()), %s, %s, %s)
ON CONFLICT (minute, method, path) DO UPDATE SET hits = strangler_route_traffic.hits + EXCLUDED.hits
"""


class RouteTraffic:
    def __init__(self) -> None:
        self.counts: Counts = {}

    def hit(self, method: str, path: str) -> None:
        key = (method, path)
        self.counts[key] = self.counts.get(key, 0) + 1

    def drain(self) -> Counts:
        counts, self.counts = self.counts, {}
        return counts

    def restore(self, counts: Counts) -> None:
        for key, hits in counts.items():
            self.counts[key] = self.counts.get(key, 0) + hits


async def flush(conn: psycopg.AsyncConnection[Any], traffic: RouteTraffic) -> int:
    """Add the pending counts to the control plane's record; returns the hits written."""
    counts = traffic.drain()
    if not counts:
        return 0
    try:
        async with conn.transaction(), conn.cursor() as cursor:
            await cursor.executemany(FLUSH_SQL, [(m, p, n) for (m, p), n in sorted(counts.items())])
    except BaseException:
        traffic.restore(counts)
        raise
    return sum(counts.values())
