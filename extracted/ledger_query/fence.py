"""Read-your-writes fence, ledger side: hold a fenced request until the client's writes are applied.

The routing proxy (``routing_proxy.fence``, where the whole design is argued) sends, on
a read (or a write, see the end) that follows a client's writes, ``X-Strangler-Fence:
<request id>@<epoch ms>,...`` (the writes' request ids and when the proxy sent them) and
``X-Strangler-Fence-Wait: <ms>``. Clients cannot send these: the proxy drops every
``X-Strangler-*`` header from them.

What "applied" means. The monolith tags every outbox row a request writes with the
request's id and the relay carries it into the events (``correlationid``). The consumer
records, in the same transaction as the events' effects (``record``), one row per
(request id, wallet): ``applied`` for a wallet whose event it applied, ``pending`` for a
transfer's counterparty whose own leg it has not seen yet (the legs are keyed by
different wallets, so they travel in different partitions and arrive in either order);
events that touch no wallet record wallet 0. A token is satisfied when its request has
at least one row and none pending (``satisfied``). Per-wallet order in Kafka makes that
enough: once a wallet's event of the write is applied, all its earlier events are.

Assumptions, each on the safe side when it fails except the last two:

- a request whose events the ledger never applies (none it consumes, dead-lettered,
  rolled back) is never satisfied: the read waits, misses, and the proxy asks the monolith;
- rows are only believed if recorded at or after the token's send time minus
  ``LEDGER_FENCE_CLOCK_MARGIN_SECONDS`` (a client that re-uses a request id must not be
  vouched for by the old request's rows). The proxy's clock and the ledger database's
  clock are compared here: with both on one machine they are the same clock; across
  machines a skew larger than the margin only turns hits into misses;
- the table is UNLOGGED: a crash of the ledger's database empties it, which again only
  makes reads miss;
- a request's effects on one wallet are one monolith transaction (the monolith's money
  operations run in ``transaction.atomic``): with two, the first applied would satisfy
  the token while the second is in flight;
- a request touching several wallets is a transfer, whose legs name each other: a
  request moving two unrelated wallets would be satisfied by either wallet's event.

The wait is a poll of one indexed lookup every ``POLL_INTERVAL`` on the thread's own
connection, bounded by the smaller of the proxy's wait and ``LEDGER_FENCE_MAX_WAIT_SECONDS``
(300 ms): a worker thread is held at most that long. Outcomes: ``hit`` (satisfied at
once), ``waited`` (satisfied within the wait) or ``miss`` (a 503 in the legacy error
shape, which the proxy replays on the monolith and never shows a client), in the
response header ``X-Strangler-Fence-Result`` (with ``; ms=N`` waited) and the metrics
``strangler_ledger_fence_total{outcome}`` and ``strangler_ledger_fence_wait_seconds``.
A malformed fence header is a miss: only a broken proxy sends one, and it cannot be
vouched for.

Writes (any method but GET, HEAD, OPTIONS) are fenced too, since the write cutover: the
proxy sends credits, debits and transfers here while the writes they depend on (opening a
wallet, KYC) still go to the monolith and arrive as events. A fenced write waits the same
way, then runs whatever the outcome, with the same result header: the monolith's write path
is off, so there is nothing to hand a miss to. The wait only narrows the race to "sync lag >
wait"; past it the write sees the ledger as it is (a wallet not yet opened is a 404), as it
would unfenced. The metrics count reads and writes together.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter, Histogram

FENCE_HEADER = "X-Strangler-Fence"
FENCE_WAIT_HEADER = "X-Strangler-Fence-Wait"
RESULT_HEADER = "X-Strangler-Fence-Result"
POLL_INTERVAL = 0.005
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # fenced reads; anything else is a write
MAX_TOKENS = 64
_TOKEN = re.compile(r"^([A-Za-z0-9._:\-]{1,128})@([0-9]{1,15})$")
NO_WALLET = 0  # the wallet of a row for an event that touches none

SATISFIED_SQL = """
SELECT correlation_id, applied, recorded_at FROM ledger_write_fence
WHERE correlation_id = ANY(%(ids)s)
"""


@dataclass(frozen=True)
class Token:
    request_id: str
    sent_at: datetime


@dataclass(frozen=True)
class Record:
    """One row of ``ledger_write_fence`` as read back."""

    correlation_id: str
    applied: bool
    recorded_at: datetime


def parse_tokens(value: str) -> list[Token] | None:
    """The tokens of a fence header, or None if it is malformed."""
    tokens = []
    for part in value.split(","):
        m = _TOKEN.match(part.strip())
        if m is None:
            return None
        tokens.append(Token(m.group(1), datetime.fromtimestamp(int(m.group(2)) / 1000, UTC)))
    return tokens if 0 < len(tokens) <= MAX_TOKENS else None


def parse_wait(value: str | None, cap: float) -> float:
    """The wait the proxy allows, in seconds, capped by the service's own bound."""
    try:
        ms = int(value or "0")
    except ValueError:
        return 0.0
    return min(max(ms, 0) / 1000, cap)


def satisfied(tokens: Sequence[Token], records: Iterable[Record], margin: float) -> bool:
    """Pure: every token's request has a believable row and none of its rows is pending."""
    by_id: dict[str, list[Record]] = {}
    for record in records:
        by_id.setdefault(record.correlation_id, []).append(record)
    slack = timedelta(seconds=margin)
    for token in tokens:
        rows = [r for r in by_id.get(token.request_id, ()) if r.recorded_at >= token.sent_at - slack]
        if not rows or not all(r.applied for r in rows):
            return False
    return True


@dataclass(frozen=True)
class Outcome:
    result: str  # hit | waited | miss
    seconds: float

    def header_value(self) -> str:
        return self.result if self.result == "hit" else f"{self.result}; ms={self.seconds * 1000:.0f}"


def await_writes(tokens: Sequence[Token], fetch: Callable[[], Iterable[Record]], wait: float,
                 margin: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """Poll until the tokens are satisfied or ``wait`` seconds have passed."""
    started = clock()
    first = True
    while True:
        if satisfied(tokens, fetch(), margin):
            return Outcome("hit" if first else "waited", clock() - started)
        first = False
        elapsed = clock() - started
        if elapsed >= wait:
            return Outcome("miss", elapsed)
        sleep(min(POLL_INTERVAL, wait - elapsed))


# -- consumer side ---------------------------------------------------------------------------


def touched(effects: Iterable[Any]) -> dict[int, bool]:
    """Wallet -> applied for one event's effects: its own wallets applied, counterparties pending."""
    wallets: dict[int, bool] = {}
    for effect in effects:
        wallet = getattr(effect, "wallet_id", None)
        if isinstance(wallet, int):
            wallets[wallet] = True
        counterparty = getattr(effect, "counterparty_wallet_id", None)
        if isinstance(counterparty, int):
            wallets.setdefault(counterparty, False)
    return wallets or {NO_WALLET: True}


def record(tx: Any, rows: dict[tuple[str, int], bool]) -> None:
    """Upsert (request id, wallet) -> applied rows in the consumer's transaction; applied wins."""
    if not rows:
        return
    values = ", ".join(["(%s, %s, %s, clock_timestamp())"] * len(rows))
    tx.execute(
        "INSERT INTO ledger_write_fence (correlation_id, wallet_id, applied, recorded_at)"
        f" VALUES {values} ON CONFLICT (correlation_id, wallet_id) DO UPDATE SET"
        " applied = ledger_write_fence.applied OR EXCLUDED.applied,"
        " recorded_at = greatest(ledger_write_fence.recorded_at, EXCLUDED.recorded_at)",
        [v for (cid, wallet), applied in rows.items() for v in (cid, wallet, applied)],
    )


def prune(conn: Any, keep: timedelta) -> int:
    """Forget rows older than ``keep`` (far longer than any proxy's fence window)."""
    cur = conn.execute("DELETE FROM ledger_write_fence WHERE recorded_at < clock_timestamp() - %s",
                       (keep,))
    return int(cur.rowcount or 0)


# -- HTTP side -------------------------------------------------------------------------------


@functools.cache
def _metrics() -> tuple[Counter, Histogram]:
    return (
        Counter("strangler_ledger_fence_total",
                "Fenced requests (read-your-writes; reads and writes) by outcome: hit, waited, miss",
                ["outcome"]),
        Histogram("strangler_ledger_fence_wait_seconds",
                  "Time fenced requests (reads and writes) waited for the client's writes",
                  buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)),
    )


def _fetch(request_ids: list[str]) -> Callable[[], list[Record]]:
    from extracted.ledger_query.read_path import connections

    def fetch() -> list[Record]:
        return [Record(r.correlation_id, r.applied, r.recorded_at)
                for r in connections.fetch(SATISFIED_SQL, {"ids": request_ids})]

    return fetch


def _miss_response() -> HttpResponse:
    from extracted.ledger_query.read_path import render
    from monolith.common.errors import error_body

    body = error_body("STALE_READ", "The ledger has not yet applied this client's recent writes; "
                                    "ask the monolith.", None)
    return HttpResponse(render(body), status=503, content_type="application/json")


class FenceMiddleware:
    """Holds a fenced API request until the client's writes are applied; a read that misses
    gets the 503, a write (an unsafe method) runs whatever the outcome."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get(FENCE_HEADER)
        if header is None or not request.path.startswith("/api/"):
            return self.get_response(request)
        counter, histogram = _metrics()
        tokens = parse_tokens(header)
        if tokens is None:
            outcome = Outcome("miss", 0.0)
        else:
            cap = float(getattr(settings, "LEDGER_FENCE_MAX_WAIT_SECONDS", 0.3))
            margin = float(getattr(settings, "LEDGER_FENCE_CLOCK_MARGIN_SECONDS", 0.25))
            wait = parse_wait(request.headers.get(FENCE_WAIT_HEADER), cap)
            outcome = await_writes(tokens, _fetch([t.request_id for t in tokens]), wait, margin)
        counter.labels(outcome.result).inc()
        histogram.observe(outcome.seconds)
        if outcome.result == "miss" and request.method in SAFE_METHODS:
            response = _miss_response()
        else:  # a write never goes to the monolith: it runs on what the ledger has now
            response = self.get_response(request)
        response[RESULT_HEADER] = outcome.header_value()
        return response
