"""End to end (issue #5 §6): the legacy client through the proxy in shadow mode, candidates with planted bugs.

Three capabilities are in shadow: ``wallets.balance`` and ``wallets.transactions``
(candidate: the extracted ledger read service, whose history lower-cases
``txn_type_display``) and ``wallets.credit`` (candidate: a monolith whose credits add
one paisa, answering shadow copies as dry runs). A second monolith instance is the
secondary. The client must see exactly what the monolith alone would have shown
it; the report, read back from the control plane with ``strangler shadow report``,
must name exactly the planted differences, by path and kind — the wrong field, the
wrong amount in the response and in the side effects — while the ids, timestamps and
balances that differ only because a dry run is not the real write are cancelled as
noise. Run with ``SHADOW_E2E_PLANTED_BUGS=`` (empty) to watch it fail without the bugs.

Timing, decided here: primary, candidate and secondary share the monolith's database,
and a copy is answered after the primary's answer — so a copy compared late (the
comparator's worker boots on the first copy; a loaded machine) meets a database the
client has written to since: every history row shifts, and the secondary disagrees
on the very field a bug is planted in, which then (rightly) counts as noise. The
client's transport therefore waits, after each shadowed request, until its
observation is stored (as the ledger e2e's transport waits for the ledger to sync):
the client's requests and bytes are unchanged, and nothing is compared late.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import psycopg
import pytest

from legacy_client import Transcript
from tests.acl.conftest import kafka_bootstrap, tansu
from tests.e2e.shadow_fixtures import ShadowRig, shadow_rig
from tests.e2e.test_ledger_query_extracted import FencedTransport, SyncFence, scenario
from tests.e2e.test_proxy_modes import first_difference, normalised, wait_until

__all__ = ["kafka_bootstrap", "shadow_rig", "tansu"]
pytestmark = pytest.mark.e2e
SHADOWED_ROUTES = re.compile(r"^(POST /api/v1/wallets/\d+/credit/"
                             r"|GET /api/v1/wallets/\d+/(balance|transactions)/)")
CREDITED = "#effects/paystream.wallet.credited.v1"


def stored(rig: ShadowRig) -> int:
    with psycopg.connect(rig.control_db, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM shadow_shadowobservation").fetchone()
    return int(row[0]) if row else 0


class ComparedTransport(httpx.BaseTransport):
    """The client's transport, waiting after each shadowed request until its observation is stored."""

    def __init__(self, inner: httpx.BaseTransport, rig: ShadowRig) -> None:
        self.inner = inner
        self.rig = rig
        self.expected = stored(rig)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if SHADOWED_ROUTES.match(f"{request.method} {request.url.path}"):
            self.expected += 1
            wait_until(lambda: stored(self.rig) >= self.expected, 60,
                       f"the observation of {request.method} {request.url.path}")
        return response

    def close(self) -> None:
        self.inner.close()


def shadowed(transcript: Transcript) -> int:
    return sum(bool(SHADOWED_ROUTES.match(f"{e.method} {e.path}")) for e in transcript.exchanges)


PLANTED = {("wallets.transactions", "/results/*/txn_type_display", "changed"),  # the read bug
           ("wallets.credit", "/amount", "changed"),  # the write bug, in the response
           ("wallets.credit", f"{CREDITED}/*/amount/amount", "changed")}  # and in its side effects


def dump_observations(rig: ShadowRig) -> None:
    """The stored observations next to the processes' logs: what a failing assertion is about."""
    with psycopg.connect(rig.control_db) as conn:
        rows = conn.execute("SELECT request_id, method, path, outcome, effects, flags, differences, cancelled"
                            " FROM shadow_shadowobservation ORDER BY observed_at").fetchall()
    names = ("request_id", "method", "path", "outcome", "effects", "flags", "differences", "cancelled")
    (rig.home / "observations.json").write_text(json.dumps([dict(zip(names, r, strict=True)) for r in rows],
                                                           indent=1, default=str))


def report(rig: ShadowRig, *options: str) -> tuple[int, dict[str, Any]]:
    done = rig.strangler("shadow", "report", "--since", "1h", "--format", "json", *options)
    assert done.stdout, done.stderr
    (rig.home / "report.json").write_text(done.stdout)  # kept with the processes' logs, for a failure
    return done.returncode, json.loads(done.stdout)


def test_the_report_finds_exactly_the_planted_bugs_and_the_client_sees_nothing(shadow_rig: ShadowRig) -> None:
    rig = shadow_rig
    direct = scenario(rig.monolith_url, rig.api_keys[0])
    transport = ComparedTransport(FencedTransport(SyncFence(rig.ledger())), rig)
    proxied = scenario(rig.proxy_url, rig.api_keys[0], transport)

    # the client saw what the monolith alone shows it
    assert [e.status for e in proxied.exchanges] == [e.status for e in direct.exchanges]
    assert normalised(proxied, direct) == normalised(direct, proxied), first_difference(direct, proxied)

    # a clean stop compares and stores every copy it was given, and says so
    assert rig.stop_proxy() == 0, (rig.home / "proxy.log").read_text()[-3000:]
    dump_observations(rig)
    code, found = report(rig)
    assert found["total"] == shadowed(proxied) > 10, found["outcomes"]
    assert found["outcomes"].keys() <= {"match", "diff"}, found["outcomes"]  # no timeout, no error

    differences = {(d["capability"], d["path"], d["kind"]) for d in found["differences"]}
    assert differences == PLANTED, json.dumps(found["differences"], indent=1)
    samples = {d["path"]: d["samples"][0] for d in found["differences"]}
    assert (samples["/amount"]["primary"], samples["/amount"]["candidate"]) == ("250.50", "250.51")
    assert found["side_effects"]["diffs"] == 1  # the one fresh credit; the replayed ones wrote nothing
    assert samples["/results/*/txn_type_display"]["candidate"] in ("credit", "debit", "transfer_out")

    # ids, timestamps and the balances a dry run after the real write sees: noise, cancelled
    cancelled = set(found["noise_cancelled"])
    assert {"/id", "/created_at", "/balance_after"} <= cancelled, cancelled
    assert {f"{CREDITED}/*/entry_id", f"{CREDITED}/*/posted_at"} <= cancelled, cancelled
    noise = {(r["capability"], r["path"]): r for r in found["noise_rates"]}
    assert noise[("wallets.credit", "/id")]["verdict"] == "noise"

    # the exit codes CI sees: samples and no threshold pass; a 100 % threshold fails on the bugs
    assert code == 0
    assert report(rig, "--fail-under", "100")[0] == 1
