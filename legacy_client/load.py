"""A bounded load generator for the legacy API: N keep-alive clients on one asyncio loop.

Each client belongs to one merchant (API keys are dealt round-robin), discovers
that merchant's wallets with ``GET /api/v1/wallets/``, then loops over a
realistic :class:`~legacy_client.stats.Mix` until the deadline. Writes go only
to active, unlocked wallets, in small amounts, so the mix does not turn into a
stream of business errors. Only loopback targets are accepted, and concurrency
and duration are capped: this is a bench tool, not a stress weapon.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from rich.table import Table

from legacy_client.errors import LoadConfigError, ServerUnreachableError
from legacy_client.stats import LatencySummary, Mix, MixChooser, summarise

MAX_CONCURRENCY = 256
MAX_DURATION_S = 600.0


@dataclass
class LoadReport:
    duration_s: float
    concurrency: int
    requests: int
    errors: dict[int, int]  # status -> count; 0 = no response (transport error)
    latency: LatencySummary
    endpoints: dict[str, LatencySummary] = field(default_factory=dict)

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def table(self) -> Table:
        table = Table(title=f"legacy API load: {self.concurrency} clients, {self.duration_s:.1f}s, "
                            f"{self.requests_per_second:,.0f} req/s, {self.error_count} errors")
        for column in ("endpoint", "requests", "errors", "p50 ms", "p95 ms", "p99 ms"):
            table.add_column(column, justify="left" if column == "endpoint" else "right")
        rows = [*sorted(self.endpoints.items()), ("all", self.latency)]
        for name, s in rows:
            table.add_row(name, f"{s.requests:,}", f"{s.errors:,}", f"{s.p50_ms:.1f}",
                          f"{s.p95_ms:.1f}", f"{s.p99_ms:.1f}", end_section=name == rows[-2][0])
        return table


def check_loopback(base_url: str) -> None:
    """Refuse any target that is not this machine."""
    host = urlsplit(base_url).hostname or ""
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as exc:
        raise LoadConfigError(f"cannot resolve {host!r} in {base_url}: {exc}") from exc
    foreign = [a for a in addresses if not ipaddress.ip_address(a.split("%")[0]).is_loopback]
    if not addresses or foreign:
        raise LoadConfigError(
            f"load runs only against loopback targets; {host!r} resolves to {sorted(addresses)}. "
            "Nothing was sent. Point it at 127.0.0.1 or localhost."
        )


def run_load(base_url: str, *, api_keys: list[str], concurrency: int, duration_s: float,
             mix: Mix | None = None, seed: int = 0) -> LoadReport:
    if not api_keys:
        raise LoadConfigError("no API keys: pass at least one merchant key (the seeder prints them)")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise LoadConfigError(f"concurrency must be 1..{MAX_CONCURRENCY}, got {concurrency}")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise LoadConfigError(f"duration_s must be in (0, {MAX_DURATION_S}], got {duration_s}")
    check_loopback(base_url)
    return asyncio.run(_Load(base_url, api_keys, concurrency, duration_s, mix or Mix(),
                             seed).run())


@dataclass(frozen=True)
class _Wallet:
    id: int
    writable: bool


class _Load:
    def __init__(self, base_url: str, api_keys: list[str], concurrency: int, duration_s: float,
                 mix: Mix, seed: int) -> None:
        self.base_url = base_url
        self.api_keys = api_keys
        self.concurrency = concurrency
        self.duration_s = duration_s
        self.mix = mix
        self.seed = seed
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.endpoint_errors: dict[str, int] = defaultdict(int)
        self.errors: dict[int, int] = defaultdict(int)

    async def run(self) -> LoadReport:
        limits = httpx.Limits(max_connections=self.concurrency,
                              max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(base_url=self.base_url, limits=limits, timeout=30) as http:
            wallets = {key: await self._discover(http, key) for key in self.api_keys}
            started = time.perf_counter()
            deadline = started + self.duration_s
            await asyncio.gather(*(
                self._client(http, self.api_keys[n % len(self.api_keys)],
                             wallets[self.api_keys[n % len(self.api_keys)]], deadline,
                             random.Random(self.seed * 1_000_003 + n))
                for n in range(self.concurrency)))
            elapsed = time.perf_counter() - started
        everything = [x for values in self.latencies.values() for x in values]
        return LoadReport(
            duration_s=elapsed, concurrency=self.concurrency, requests=len(everything),
            errors=dict(self.errors), latency=summarise(everything, sum(self.errors.values())),
            endpoints={name: summarise(values, self.endpoint_errors[name])
                       for name, values in self.latencies.items()})

    async def _discover(self, http: httpx.AsyncClient, key: str) -> list[_Wallet]:
        try:
            response = await http.get("/api/v1/wallets/?page_size=100",
                                      headers={"Authorization": f"Api-Key {key}"})
        except httpx.TransportError as exc:
            raise ServerUnreachableError(f"{self.base_url} did not answer: {exc}") from exc
        if response.status_code != 200:
            raise LoadConfigError(f"GET /api/v1/wallets/ with key {key[:12]}... answered "
                                  f"{response.status_code}: {response.text[:200]}")
        found = [_Wallet(w["id"], w["status"] == 1 and not w["limits_locked"])
                 for w in response.json()["results"]]
        if not found:
            raise LoadConfigError(f"merchant of key {key[:12]}... has no wallets; seed data first")
        return found

    async def _client(self, http: httpx.AsyncClient, key: str, wallets: list[_Wallet],
                      deadline: float, rng: random.Random) -> None:
        headers = {"Authorization": f"Api-Key {key}"}
        choose = MixChooser(self.mix, rng)
        writable = [w for w in wallets if w.writable] or None
        # Page 2 is read the way integrations reach it: by following a page-1 ``next`` link.
        next_pages: dict[int, str] = {}
        while time.perf_counter() < deadline:
            operation = choose()
            if operation in ("credit", "debit") and writable:
                wallet = rng.choice(writable)
                request = http.build_request(
                    "POST", f"/api/v1/wallets/{wallet.id}/{operation}/", headers=headers,
                    json={"amount": f"{rng.randrange(1, 500)}.{rng.randrange(100):02d}"})
            elif operation == "history_page_2" and next_pages:
                wallet_id = rng.choice(list(next_pages))
                request = http.build_request("GET", next_pages[wallet_id], headers=headers)
            else:
                wallet = rng.choice(wallets)
                if operation not in ("balance", "history", "wallet_detail"):
                    operation = "history" if operation == "history_page_2" else "balance"
                path = {"balance": "balance/", "history": "transactions/",
                        "wallet_detail": ""}[operation]
                request = http.build_request("GET", f"/api/v1/wallets/{wallet.id}/{path}",
                                             headers=headers)
            sent = time.perf_counter()
            try:
                response = await http.send(request)
                status = response.status_code
            except httpx.TransportError:
                status = 0
            self.latencies[operation].append(time.perf_counter() - sent)
            if operation == "history" and status == 200:
                link = response.json().get("next")
                if link:
                    next_pages[wallet.id] = link
            # A debit refused for funds is the server keeping its rules, still an error to count.
            if status == 0 or status >= 400:
                self.errors[status] += 1
                self.endpoint_errors[operation] += 1
