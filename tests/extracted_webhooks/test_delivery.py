"""The HTTP sender against real local servers: pinning, SSRF, redirects, timeouts, size limit."""

from __future__ import annotations

import time

import pytest

from extracted.webhooks import signing, ssrf
from extracted.webhooks.delivery import Limits, Sender
from tests.extracted_webhooks.receivers import Receiver, refused_port, serving

LOOPBACK = ssrf.parse_allowlist("127.0.0.0/8, ::1")
SECRET = "whsec_delivery"
BODY = b'{"id":"e1","type":"wallet.credited","data":{}}'


def sender(resolver: ssrf.Resolver = ssrf.system_resolver, allow: tuple[ssrf.IPNetwork, ...] = LOOPBACK,
           total: float = 2.0, max_bytes: int = 1024) -> Sender:
    limits = Limits(connect_timeout=1.0, total_timeout=total, max_response_bytes=max_bytes)
    return Sender(limits, allow, resolver)


def test_a_signed_post_reaches_the_receiver_which_can_verify_it() -> None:
    with serving(Receiver()) as r:
        outcome = sender().send(r.url, SECRET, BODY, {"PayStream-Event": "wallet.credited"}, int(time.time()))
    assert (outcome.result.response_code, outcome.result.error, outcome.body_excerpt) == (200, "", b"ok")
    got = r.received[0]
    assert got.body == BODY and got.headers["PayStream-Event"] == "wallet.credited"
    signing.verify(SECRET, got.headers[signing.SIGNATURE_HEADER], got.body, now=time.time())


def test_the_name_is_resolved_once_and_the_request_goes_to_that_address_with_the_names_host() -> None:
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:  # first answer loopback, then "somewhere else"
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["10.9.9.9"]

    with serving(Receiver()) as r:
        outcome = sender(rebinding).send(f"http://hooks.merchant.test:{r.port}/hook", SECRET, BODY, {}, 1)
    assert outcome.result.response_code == 200 and outcome.address == "127.0.0.1"
    assert calls == ["hooks.merchant.test"]
    assert r.received[0].headers["Host"] == f"hooks.merchant.test:{r.port}"


def test_ipv6_loopback_target_is_reached_when_allowlisted() -> None:
    with serving(Receiver(), host="::1") as r:
        outcome = sender().send(f"http://[::1]:{r.port}/hook", SECRET, BODY, {}, 1)
    assert outcome.result.response_code == 200 and outcome.address == "::1"


def test_loopback_is_refused_without_an_allowlist_and_nothing_is_sent() -> None:
    with serving(Receiver()) as r:
        outcome = sender(allow=()).send(r.url, SECRET, BODY, {}, 1)
    assert outcome.result.permanent and "loopback" in outcome.result.error
    assert outcome.address is None and r.count() == 0


def test_a_name_resolving_to_a_private_address_is_refused_before_connecting() -> None:
    metadata = sender(lambda h, p: ["169.254.169.254"])
    outcome = metadata.send("http://metadata.test/latest", SECRET, BODY, {}, 1)
    assert outcome.result.permanent and "link-local" in outcome.result.error


def test_redirects_are_not_followed() -> None:
    with serving(Receiver("redirect")) as r:
        outcome = sender().send(r.url, SECRET, BODY, {}, 1)
    assert outcome.result.response_code == 307 and r.count() == 1


def test_a_500_is_reported_with_its_code() -> None:
    with serving(Receiver("fail500")) as r:
        outcome = sender().send(r.url, SECRET, BODY, {}, 1)
    assert (outcome.result.response_code, outcome.body_excerpt) == (500, b"boom")


def test_a_refused_connection_is_an_error_not_a_crash() -> None:
    outcome = sender().send(f"http://127.0.0.1:{refused_port()}/hook", SECRET, BODY, {}, 1)
    assert outcome.result.response_code is None and "ConnectError" in outcome.result.error


def test_a_receiver_that_hangs_times_out() -> None:
    with serving(Receiver("hang")) as r:
        outcome = sender(total=0.5).send(r.url, SECRET, BODY, {}, 1)
    assert outcome.result.response_code is None and outcome.result.error.startswith("timeout")


def test_a_huge_response_body_is_read_only_up_to_the_limit() -> None:
    with serving(Receiver("flood")) as r:
        outcome = sender(max_bytes=1000).send(r.url, SECRET, BODY, {}, 1)
    assert outcome.result.response_code == 200 and len(outcome.body_excerpt) == 1000


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/", "http://[::ffff:127.0.0.1]:1/"])
def test_ipv4_mapped_literals_are_judged_as_ipv4(url: str) -> None:
    outcome = sender(allow=()).send(url, SECRET, BODY, {}, 1)
    assert outcome.result.permanent and "loopback" in outcome.result.error


@pytest.mark.parametrize("path", ["/hooks/café", "/hooks/\u00e9t\u00e9"])
def test_a_url_http_cannot_carry_is_a_permanent_failure_not_a_crash(path: str) -> None:
    """One merchant's odd endpoint must not abort the batch it was claimed in."""
    with serving(Receiver()) as r:
        outcome = sender().send(f"http://127.0.0.1:{r.port}{path}", SECRET, BODY, {}, 1)
    assert outcome.result.permanent and "cannot send to this URL" in outcome.result.error
    assert r.count() == 0


def test_a_url_with_a_nonsense_port_is_a_permanent_failure() -> None:
    outcome = sender().send("http://127.0.0.1:99999/hook", SECRET, BODY, {}, 1)
    assert outcome.result.permanent and "cannot send to this URL" in outcome.result.error
