"""The access log: one JSON line per request, written off the event loop, same fields as before."""

from __future__ import annotations

import io
import json
import re

from routing_proxy.dataplane.access_log import AccessLog
from routing_proxy.routes import Capability, Mode, RouteRule, RouteTable
from tests.routing_proxy.helpers import Client, proxy, run, upstream, wait_for

TABLE = RouteTable(1, (Capability("ledger.history",
                                  (RouteRule("GET", "/api/v1/wallets/{id}/transactions/"),),
                                  Mode.EXTRACTED),))


def test_access_log_lines_carry_request_id_decision_status_upstream_and_latency() -> None:
    async def scenario() -> list[dict[str, object]]:
        stream = io.StringIO()
        log = AccessLog(True, stream=stream, flush_interval=0.02)
        async with (
            upstream("monolith") as mono,
            upstream("extracted") as ext,
            proxy(TABLE, mono.url, ext.url, access_log=log) as server,
        ):
            client = await Client.connect(server.port)
            first = await client.request("GET", "/api/v1/wallets/123456789012/transactions/",
                                         {"Authorization": "Token ps_live_secret"})
            second = await client.request("POST", '/odd/"quoted"/path', {"X-Request-ID": "r-2"},
                                          body=b"{}")
            await wait_for(lambda: stream.getvalue().count("\n") == 2)  # by the flush timer
            client.close()
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
        assert lines[0]["request_id"] == first.header("X-Request-ID")
        assert lines[1]["request_id"] == second.header("X-Request-ID") == "r-2"
        return lines

    first, second = run(scenario)
    assert {k: first[k] for k in ("event", "level", "logger", "method", "status", "capability",
                                  "mode", "reason", "upstream", "fallback", "client_ip")} == {
        "event": "proxy.request", "level": "info", "logger": "routing_proxy.access",
        "method": "GET", "status": 200, "capability": "ledger.history", "mode": "extracted",
        "reason": "mode", "upstream": "extracted", "fallback": False, "client_ip": "127.0.0.1"}
    # the same redaction as every structlog line: digit runs (account numbers) are masked
    assert first["path"] == "/api/v1/wallets/[REDACTED]/transactions/"
    assert "ps_live" not in json.dumps(first)  # header values are never logged
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", str(first["timestamp"]))
    assert (second["path"], second["capability"], second["mode"], second["reason"],
            second["upstream"]) == ('/odd/"quoted"/path', None, None, "unmatched", "monolith")


def test_access_log_drops_and_counts_lines_beyond_its_bound_instead_of_growing() -> None:
    stream = io.StringIO()
    log = AccessLog(True, stream=stream, max_pending=1)
    from routing_proxy.dataplane.http import RequestHead
    from routing_proxy.decision import UNMATCHED

    head = RequestHead("GET", b"/x", "/x", "", "1.1", [], {}, True, False, None, "127.0.0.1",
                       request_id="r")
    for _ in range(3):
        log.record(head, UNMATCHED, "monolith", 200, 0.001, False)
    assert log.dropped == 2
    log.close()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["proxy.access_log_dropped", "proxy.request"]
    assert lines[0]["lines"] == 2 and log.dropped == 0
