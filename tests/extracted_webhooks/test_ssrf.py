"""SSRF address classification, allowlists and resolve-once."""

from __future__ import annotations

import ipaddress

import pytest

from extracted.webhooks import ssrf
from extracted.webhooks.errors import TargetRefused


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("fc00::1", "private"), ("fd12:3456::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("100.64.0.1", "shared (CGNAT)"), ("240.0.0.1", "reserved"),
    # IPv6 forms that carry an IPv4 address are judged by that address
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"), ("64:ff9b::a00:1", "private"), ("::7f00:1", "loopback"),
])
def test_non_public_addresses_are_classified_with_the_reason(address: str, reason: str) -> None:
    assert ssrf.classify(address) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111",
                                     "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert ssrf.classify(address) is None


def test_one_private_answer_among_public_ones_refuses_the_target() -> None:
    with pytest.raises(TargetRefused, match=r"10\.0\.0\.1.*private"):
        ssrf.check("mixed.example", ["8.8.8.8", "10.0.0.1"], ())


def test_allowlisted_network_admits_loopback_including_its_ipv4_mapped_form() -> None:
    allow = ssrf.parse_allowlist("127.0.0.0/8")
    assert ssrf.check("localhost", ["127.0.0.1"], allow) == "127.0.0.1"
    assert ssrf.check("localhost", ["::ffff:127.0.0.1"], allow) == "::ffff:127.0.0.1"
    with pytest.raises(TargetRefused, match="link-local"):
        ssrf.check("metadata", ["169.254.169.254"], allow)


def test_an_unresolvable_name_is_refused() -> None:
    with pytest.raises(TargetRefused, match="unresolvable"):
        ssrf.check("nowhere.invalid", [], ())


def test_bad_allowlist_entry_names_the_entry() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not an IP network"):
        ssrf.parse_allowlist("127.0.0.0/8, 10.0.0.0/33")
    assert ssrf.parse_allowlist(" ::1 ,") == (ipaddress.ip_network("::1"),)


def test_resolve_target_resolves_once_and_returns_the_checked_address() -> None:
    answers = [["8.8.4.4"], ["10.0.0.1"]]  # a rebinding DNS: public first, private afterwards
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers[len(calls) - 1]

    target = ssrf.resolve_target("rebind.example", 443, (), resolver)
    assert target == ssrf.Target("rebind.example", "8.8.4.4", 443)
    assert calls == ["rebind.example"]


def test_system_resolver_returns_literal_addresses_unchanged() -> None:
    assert ssrf.system_resolver("127.0.0.1", 80) == ["127.0.0.1"]
    assert ssrf.system_resolver("::1", 80) == ["::1"]
