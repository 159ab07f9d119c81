"""Read-your-writes fence, proxy side: remember each client's recent writes, fence its extracted requests.

The problem. Once a read capability (``wallets.balance``, ``ledger.history``) is served
by an extracted service, that service learns about the monolith's writes from events
(outbox -> relay -> Kafka -> consumer), tens to hundreds of milliseconds late. A legacy
client that credits a wallet through the monolith and reads the balance at once would
see the old balance. Legacy clients must notice nothing, so the proxy, which sees both
the write and the read, fences the read.

The token: the write's request id, not a clock. The proxy sets ``X-Request-ID`` on
every request it forwards; the monolith's ``acl.django.CorrelationMiddleware`` puts that
id on every outbox row the request writes, and the relay carries it into each event
(the CloudEvents ``correlationid`` attribute). The extracted service records the ids of
the events it has applied (``extracted.ledger_query.fence``), so "has the ledger applied
this write?" is a lookup, exact, and needs no clock. Time-based alternatives were
rejected because they are not sound here:

- "newest applied event's commit time >= the write's time" is wrong across Kafka
  partitions: an event of another wallet, committed later, may be applied before this
  wallet's event;
- "the consumer found nothing pending at u >= the write's time" only proves that what
  had been *published* before ``u`` is applied; the relay publishes a commit some
  milliseconds (or, while it or the broker is stalled, minutes) later, and nothing in
  the ledger bounds that delay;
- the proxy's wall clock and the monolith's commit timestamps are comparable only on one
  machine, up to the clocks' skew.

Per-aggregate order makes the lookup sufficient: the relay publishes each wallet's events
in commit order under the wallet's id as the Kafka key, and the consumer applies a
partition in order, so once the write's event for wallet W is applied, every earlier
event of W is too. A transfer's two legs live in two partitions; the ledger records the
leg it has not seen yet as pending (each leg names its counterparty), so a token counts
as applied only when every wallet it is known to touch has caught up.

What the proxy keeps, and why it is safe to keep so little:

- per client identity: the SHA-256 of the ``Authorization`` header value (never the key
  itself), in an LRU bounded by ``max_clients``; requests without the header are not
  tracked (the fenced read endpoints require an API key anyway);
- per client, the tokens of its writes sent to the monolith in the last ``window``
  seconds (at most ``max_tokens``): request id and the proxy's wall-clock send time. The
  send time is only a guard against a client re-using a request id: the ledger ignores
  records older than the send time minus a clock margin. A clock difference larger than
  the margin makes the ledger miss (the proxy then asks the monolith): safe, and visible
  in the miss counters;
- a token is recorded *before* the write is sent (a read racing the write is fenced too)
  and dropped when the write answers 4xx (the monolith rolls 4xx writes back) or when
  the ledger vouches for it; a write that failed at the proxy (timeout, 5xx) keeps its
  token, since it may have committed;
- a retry with the same ``Idempotency-Key`` as one of the client's 2xx writes in the
  window adds no token: the monolith replays the stored answer and writes nothing, so
  the token could never be satisfied and would only cost a miss;
- only writes under ``write_paths`` leave a token. A write that produces no event the
  extracted service consumes (a user, a webhook endpoint, a bank account) leaves a token
  that can never be satisfied: every extracted read of that client would miss and be
  served by the monolith (correct, but slower, and the extracted share collapses) until
  the window ends. Nothing in the ledger can tell "not yet" from "never" (that needs the
  monolith or the ACL to say which requests wrote to the outbox). So the scope is
  declared: by default ``PAYSTREAM_LEDGER_WRITES``, the PayStream routes whose writes
  change what the ledger's balance and history reads show (wallets, transfers,
  payouts; staff and admin writes carry no API key and are not tracked anyway).
  Scoping too narrowly lets a stale read through, so a deployment that extracts other
  reads must widen it (``--fence-write-path``; ``/`` is every write: always safe,
  slower).

The protocol on a fenced read (only reads routed to an extracted upstream whose failure
may fall back to the monolith, see ``dataplane.fallback``; writes below):

- request headers ``X-Strangler-Fence: <request id>@<send time, epoch ms>,...`` and
  ``X-Strangler-Fence-Wait: <ms>``; clients cannot send either (the proxy drops every
  ``X-Strangler-*`` header a client sends);
- the service waits up to that long for the tokens, then answers normally with
  ``X-Strangler-Fence-Result: hit`` or ``waited; ms=N`` (the proxy drops the tokens), or
  answers 503 with ``X-Strangler-Fence-Result: miss; ms=N``: the proxy replays the read
  on the monolith, counts it as a fallback of kind ``fence_miss``, and does *not* count
  it against the circuit breaker (the service answered; it is healthy, just behind);
- after a miss the same tokens are sent with a wait of 0: one cheap lookup, then the
  monolith, instead of the full wait on every read after a write that will never show up;
- an answer without the result header (a service that does not implement the fence) is
  treated as a miss: a fenced read is never served unverified.

Writes to an extracted service are fenced too, but only wait. After the write cutover a
ledger write (credit, debit, transfer) goes to the ledger while the writes it depends on
(opening a wallet, KYC) still go to the monolith; a client that opens a wallet and debits
it at once would get a 404 from a ledger that has not seen the wallet yet, where the
monolith would have answered (say, a 409). Such a write (a non-idempotent request routed to
an extracted upstream) carries the same two headers. The service waits the same way and
then runs the write whatever the outcome, with the same result header: there is nothing to
fall back to, since the monolith's write path for it is off, and a write is never sent
twice. The proxy relays the answer as it is (a ``miss`` or no result header refuses
nothing and is not a failure), drops the tokens on ``hit``/``waited`` and marks them missed
otherwise. A client whose tokens overflowed (``BYPASS``) has its write sent without a fence,
never to the monolith. So the race is narrowed, not closed: a write still meets a stale
ledger when the sync lag exceeds the wait, and its answer is then what it was without the
fence. The ledger must implement this before the proxy sends it: an older ledger answers a
fenced write that misses with a 503 ``STALE_READ``, which the client would see.

Per instance, not shared: a client's writes and reads must pass the same proxy instance
for the fence to see both. Legacy clients keep their connections alive, and instances
share a port by ``SO_REUSEPORT`` per connection, so a client's sequential requests
usually do; a client that spreads requests over connections and instances is not
protected. Sharing the tokens through the control plane would add a database round trip
to every write; an affinity by API key in the load balancer is the cheaper fix when it
matters. Losing the table (restart) loses at most ``window`` seconds of protection.

Pure: no I/O; the clocks are attributes so tests drive them.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

FENCE_HEADER = "X-Strangler-Fence"
FENCE_WAIT_HEADER = "X-Strangler-Fence-Wait"
RESULT_HEADER = "X-Strangler-Fence-Result"
RESULT_HEADER_LOWER = RESULT_HEADER.lower().encode()
# PayStream's writes that move what /wallets/{id}/balance/ and /transactions/ show: opening a
# wallet (a 404 becomes a 200), credit, debit, transfers, payouts (their debit).
PAYSTREAM_LEDGER_WRITES = ("/api/v1/wallets/", "/api/v1/transfers/", "/api/v1/payouts/")


@dataclass(frozen=True)
class FenceConfig:
    enabled: bool = True
    window: float = 10.0  # seconds after a write during which its client's extracted reads are fenced
    wait: float = 0.3  # longest the extracted service may wait for a write to arrive
    max_clients: int = 50_000  # LRU bound on client identities remembered
    # pending writes remembered per client; overflowing forces reads to the monolith for a window,
    # during which nothing can vouch for the tokens, so a client writing faster than
    # max_tokens per window never gets back (16 did that under the demo's load: ~1-2 writes/s
    # per key). 64 tokens are ~3 KB of fence header, well under the services' 8 KB field limit
    max_tokens: int = 64
    write_paths: tuple[str, ...] = PAYSTREAM_LEDGER_WRITES  # writes under these prefixes leave a token

    def __post_init__(self) -> None:
        if self.window <= 0 or self.wait < 0:
            raise ValueError("fence window must be > 0 and wait >= 0 seconds")
        if self.max_clients < 1 or self.max_tokens < 1:
            raise ValueError("fence max_clients and max_tokens must be at least 1")
        if not self.write_paths or not all(p.startswith("/") for p in self.write_paths):
            raise ValueError("fence write paths must be path prefixes starting with '/'")


@dataclass(slots=True)
class _Token:
    request_id: str
    sent_ms: int  # wall clock, epoch milliseconds: compared with the service's clock (margin)
    expires: float  # monotonic
    idempotency_key: str | None
    missed: bool = False
    answered: bool = False


@dataclass(slots=True)
class _Client:
    tokens: OrderedDict[str, _Token] = field(default_factory=OrderedDict)
    replayable: dict[str, float] = field(default_factory=dict)  # Idempotency-Key -> expires
    bypass_until: float = 0.0  # tokens were dropped unverified: no extracted reads until then


@dataclass(frozen=True, slots=True)
class FencedRead:
    """What to do with one read: send ``lines`` with it, or go to the monolith (``bypass``)."""

    request_ids: tuple[str, ...]
    lines: bytes
    bypass: bool = False


BYPASS = FencedRead((), b"", True)


def client_key(authorization: str | None) -> str | None:
    """The client's identity: a hash of its credentials, never the credentials themselves."""
    if not authorization:
        return None
    return hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def parse_result(value: bytes | str | None) -> str | None:
    """``hit`` / ``waited`` / ``miss`` from a result header value, None if absent or unknown."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    outcome = text.split(";", 1)[0].strip().lower()
    return outcome if outcome in ("hit", "waited", "miss") else None


class ReadYourWrites:
    """The per-instance table of clients' recent writes (see the module docstring)."""

    clock: Callable[[], float] = staticmethod(time.monotonic)
    wall: Callable[[], float] = staticmethod(time.time)

    def __init__(self, config: FenceConfig) -> None:
        self.config = config
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self.evicted_live = 0  # clients forgotten by the LRU while a write was still pending

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def __len__(self) -> int:
        return len(self._clients)

    # -- writes -------------------------------------------------------------------------
    def write_started(self, key: str, request_id: str, path: str,
                      idempotency_key: str | None) -> bool:
        """Note a write about to be sent to the monolith; False if it needs no token."""
        if not path.startswith(self.config.write_paths):
            return False
        now = self.clock()
        client = self._client(key, now, create=True)
        assert client is not None
        if idempotency_key and client.replayable.get(idempotency_key, 0.0) > now:
            return False  # a replay of an answered write: the monolith writes nothing
        client.tokens.pop(request_id, None)
        client.tokens[request_id] = _Token(request_id, int(self.wall() * 1000),
                                           now + self.config.window, idempotency_key)
        while len(client.tokens) > self.config.max_tokens:
            _, dropped = client.tokens.popitem(last=False)
            # never forget an unverified write silently: read from the monolith until it expires
            client.bypass_until = max(client.bypass_until, dropped.expires)
        return True

    def write_finished(self, key: str, request_id: str, status: int) -> None:
        """The monolith answered (``status``; 0 if it did not): a 4xx wrote nothing."""
        client = self._clients.get(key)
        token = client.tokens.get(request_id) if client is not None else None
        if client is None or token is None:
            return
        if 400 <= status < 500:
            del client.tokens[request_id]
            return
        token.answered = True
        if 200 <= status < 300 and token.idempotency_key:
            client.replayable[token.idempotency_key] = token.expires
            if len(client.replayable) > self.config.max_tokens:
                client.replayable.pop(next(iter(client.replayable)))

    # -- reads --------------------------------------------------------------------------
    def read(self, key: str | None) -> FencedRead | None:
        """The fence for a read routed to an extracted service; None when none is needed."""
        if key is None:
            return None
        now = self.clock()
        client = self._client(key, now, create=False)
        if client is None:
            return None
        if client.bypass_until > now:
            return BYPASS
        if not client.tokens:
            return None
        tokens = list(client.tokens.values())
        wait_ms = 0 if any(t.missed for t in tokens) else round(self.config.wait * 1000)
        value = ",".join(f"{t.request_id}@{t.sent_ms}" for t in tokens)
        lines = (f"{FENCE_HEADER}: {value}\r\n{FENCE_WAIT_HEADER}: {wait_ms}\r\n"
                 .encode("latin-1"))
        return FencedRead(tuple(t.request_id for t in tokens), lines)

    def vouched(self, key: str | None, request_ids: tuple[str, ...]) -> None:
        """The service answered fresh as of these writes: they need no fence any more.

        Only answered writes are dropped: a write still in flight when the read was sent
        may have been vouched for before it committed (it had no events yet to find).
        """
        client = self._clients.get(key) if key is not None else None
        if client is None:
            return
        for request_id in request_ids:
            token = client.tokens.get(request_id)
            if token is not None and token.answered:
                del client.tokens[request_id]

    def missed(self, key: str | None, request_ids: tuple[str, ...]) -> None:
        """The service could not vouch in time: ask without waiting from now on."""
        client = self._clients.get(key) if key is not None else None
        if client is None:
            return
        for request_id in request_ids:
            token = client.tokens.get(request_id)
            if token is not None:
                token.missed = True

    # -- the table ----------------------------------------------------------------------
    def _client(self, key: str, now: float, *, create: bool) -> _Client | None:
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            self._expire(client, now)
            return client
        if not create:
            return None
        client = self._clients[key] = _Client()
        while len(self._clients) > self.config.max_clients:
            _, evicted = self._clients.popitem(last=False)
            self._expire(evicted, now)
            if evicted.tokens:
                self.evicted_live += 1
        return client

    @staticmethod
    def _expire(client: _Client, now: float) -> None:
        tokens = client.tokens
        while tokens:
            oldest = next(iter(tokens.values()))
            if oldest.expires > now:
                break
            tokens.popitem(last=False)
        if client.replayable:
            for stale in [k for k, expires in client.replayable.items() if expires <= now]:
                del client.replayable[stale]
