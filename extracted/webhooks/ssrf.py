"""SSRF policy: which resolved addresses a webhook may be sent to. Pure, except ``resolve``.

A target is allowed only if EVERY address its name resolves to is globally routable
(or inside a configured allowlist). IPv4-mapped (``::ffff:a.b.c.d``), IPv4-compatible and
NAT64 IPv6 forms are judged by the IPv4 address they carry. The sender connects to the
address checked here (resolve once), so a DNS answer that changes between the check and
the connection (DNS rebinding) cannot redirect the request.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import NamedTuple

from extracted.webhooks.errors import TargetRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT


class Target(NamedTuple):
    host: str  # the name from the URL: Host header and TLS SNI
    address: str  # the checked IP the connection goes to
    port: int


def embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64), else ``ip`` itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
            return ipaddress.IPv4Address(int(ip))
    return ip


def classify(address: str) -> str | None:
    """Why ``address`` must not be a webhook target (``"loopback"``, ``"private"``…), or None if public."""
    ip = embedded_ipv4(ipaddress.ip_address(address))
    for reason, test in (
        ("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved), ("shared (CGNAT)", ip in _SHARED), ("private", ip.is_private),
    ):
        if test:
            return reason
    return None if ip.is_global else "non-global"


def parse_allowlist(spec: str) -> tuple[IPNetwork, ...]:
    """``"127.0.0.0/8, ::1"`` -> networks; raises ``ValueError`` naming the bad entry."""
    networks = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an IP network (example: 127.0.0.0/8): {exc}") from None
    return tuple(networks)


def check(host: str, addresses: Sequence[str], allowlist: Sequence[IPNetwork]) -> str:
    """The address to connect to, if all of ``addresses`` are acceptable; else ``TargetRefused``."""
    if not addresses:
        raise TargetRefused(host, "-", "unresolvable")
    for address in addresses:
        ip = ipaddress.ip_address(address)
        reason = classify(address)
        allowed = any(ip in net or embedded_ipv4(ip) in net for net in allowlist)
        if reason is not None and not allowed:
            raise TargetRefused(host, address, reason)
    return addresses[0]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (literal IPs resolve to themselves)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        return []
    seen: dict[str, None] = {}
    for *_, sockaddr in infos:
        seen.setdefault(str(sockaddr[0]).split("%")[0], None)
    return list(seen)


def resolve_target(host: str, port: int, allowlist: Sequence[IPNetwork],
                   resolver: Resolver = system_resolver) -> Target:
    """Resolve ``host`` once and check every answer; the result is what the sender connects to."""
    return Target(host, check(host, resolver(host, port), allowlist), port)
