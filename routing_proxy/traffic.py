"""Per-route traffic record: counted in the data plane, flushed to the control plane.

The hot path pays one or two dict increments per matched request (``RouteTraffic.hit``,
keyed by the rule's method and path template; requests the routing decision sent to the
monolith are also counted apart, because decommissioning asks two questions: do clients
still call this legacy path (a compatibility shim stays until they stop), and does the
monolith still serve it (its code may go once it has not, for a whole window)). The control client drains the
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
INSERT INTO strangler_route_traffic (minute, method, path, hits, monolith_hits)
VALUES (date_trunc('minute', clock_timestamp()), %s, %s, %s, %s)
ON CONFLICT (minute, method, path) DO UPDATE SET hits = strangler_route_traffic.hits + EXCLUDED.hits,
    monolith_hits = strangler_route_traffic.monolith_hits + EXCLUDED.monolith_hits
"""


class RouteTraffic:
    def __init__(self) -> None:
        self.counts: Counts = {}
        self.monolith_counts: Counts = {}  # the part of ``counts`` routed to the monolith

    def hit(self, method: str, path: str, *, monolith: bool = True) -> None:
        key = (method, path)
        self.counts[key] = self.counts.get(key, 0) + 1
        if monolith:
            self.monolith_counts[key] = self.monolith_counts.get(key, 0) + 1

    def served_by_monolith(self, key: tuple[str, str]) -> None:
        """A request already counted for the extracted side that the monolith answered after all
        (a fallback, a read-your-writes bypass): the monolith still serves this route."""
        self.monolith_counts[key] = self.monolith_counts.get(key, 0) + 1

    def drain(self) -> tuple[Counts, Counts]:
        drained = (self.counts, self.monolith_counts)
        self.counts, self.monolith_counts = {}, {}
        return drained

    def restore(self, drained: tuple[Counts, Counts]) -> None:
        for mine, theirs in zip((self.counts, self.monolith_counts), drained, strict=True):
            for key, hits in theirs.items():
                mine[key] = mine.get(key, 0) + hits


async def flush(conn: psycopg.AsyncConnection[Any], traffic: RouteTraffic) -> int:
    """Add the pending counts to the control plane's record; returns the hits written."""
    drained = traffic.drain()
    counts, monolith = drained
    if not counts:
        return 0
    try:
        async with conn.transaction(), conn.cursor() as cursor:
            await cursor.executemany(FLUSH_SQL, [(m, p, n, monolith.get((m, p), 0))
                                                 for (m, p), n in sorted(counts.items())])
    except BaseException:
        traffic.restore(drained)
        raise
    return sum(counts.values())
