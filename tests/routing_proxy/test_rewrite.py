"""A compatibility shim's upstream path: checked once against its route, filled in safely per request."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing_proxy.control_client import table_from_snapshot
from routing_proxy.dataplane.http import RequestHead
from routing_proxy.dataplane.routing import Router
from routing_proxy.errors import ClientRequestError, RouteFileError, RouteTableError
from routing_proxy.paths import canonical_path
from routing_proxy.rewrite import UpstreamPath, parse_upstream_path
from routing_proxy.routes import (
    Capability,
    KeyKind,
    KeySource,
    Mode,
    RouteRule,
    RouteTable,
    StickyKey,
    parse_route_file,
)

LEGACY = "/api/v1/wallets/{wallet_id}/balance/"
NEW = "/v2/accounts/{wallet_id}/balance"
ROUTE = f"GET {LEGACY}"


def template(text: str = NEW, params: tuple[str, ...] = ("wallet_id",)) -> UpstreamPath:
    return parse_upstream_path(text, params, ROUTE)


# -- checking the template ------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "params", "literals"),
    [
        (NEW, ("wallet_id",), ("/v2/accounts/", "/balance")),
        ("/v2/accounts/{wallet_id}/", ("wallet_id",), ("/v2/accounts/", "/")),
        ("/{wallet_id}", ("wallet_id",), ("/", "")),
        ("/v2/balance", (), ("/v2/balance",)),
        ("/", (), ("/",)),
        ("/v2/m/{merchant}/w/{wallet}", ("wallet", "merchant"), ("/v2/m/", "/w/", "")),
        ("/v2/a:b@c/~x/-._!$&'()*+,;=", (), ("/v2/a:b@c/~x/-._!$&'()*+,;=",)),
    ],
)
def test_a_plain_template_is_split_once_into_literals_and_parameter_names(
        text: str, params: tuple[str, ...], literals: tuple[str, ...]) -> None:
    checked = parse_upstream_path(text, params, ROUTE)
    assert checked.literals == literals
    assert sorted(checked.names) == sorted(params)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        ("v2/accounts/{wallet_id}", "does not start with '/'"),
        ("http://evil.example/{wallet_id}", "does not start with '/'"),
        ("//evil.example/{wallet_id}", "empty segment"),
        ("/v2//{wallet_id}", "empty segment"),
        ("/v2/../admin/{wallet_id}", "dot segment"),
        ("/v2/./{wallet_id}", "dot segment"),
        ("/{wallet_id}/..", "dot segment"),
        ("/v2/%2e%2e/{wallet_id}", "a character a path may not hold"),
        ("/v2/%2F/{wallet_id}", "a character a path may not hold"),
        ("/v2\\..\\x/{wallet_id}", "a character a path may not hold"),
        ("/v2 x/{wallet_id}", "a character a path may not hold"),
        ("/v2\r\nHost: evil/{wallet_id}", "a character a path may not hold"),
        ("/v2\n/{wallet_id}", "a character a path may not hold"),
        ("/v2/{wallet_id}\n", "has segment"),
        ("/v2/caf\u00e9/{wallet_id}", "a character a path may not hold"),
        ("/v2/{wallet_id}?expand=1", "query or fragment"),
        ("/v2/{wallet_id}#top", "query or fragment"),
        ("/v2/acct-{wallet_id}", "has segment"),
        ("/v2/{wallet_id", "has segment"),
        ("/v2/{user_id}", "uses {user_id}, which the route does not capture"),
        ("/v2/{wallet_id}/{wallet_id}", "uses {wallet_id} twice"),
        ("/v2/balance", "drops {wallet_id}"),
        ("/" + "a" * 500 + "/{wallet_id}", "longer than 500"),
    ],
)
def test_a_bad_template_is_refused_saying_what_is_wrong_and_how_to_fix_it(text: str, problem: str) -> None:
    with pytest.raises(RouteTableError) as refused:
        template(text)
    message = str(refused.value)
    assert problem in message
    assert ROUTE in message and "; " in message  # names the route, then the fix


def test_the_route_rule_checks_its_upstream_path_when_it_is_built() -> None:
    rule = RouteRule("GET", LEGACY, upstream_path=NEW)
    assert rule.rewrite is not None and rule.rewrite.names == ("wallet_id",)
    assert RouteRule("GET", LEGACY).rewrite is None
    assert rule.describe() == f"{ROUTE} -> {NEW}"
    with pytest.raises(RouteTableError, match="drops"):
        RouteRule("GET", LEGACY, upstream_path="/v2/accounts")


# -- filling it in ---------------------------------------------------------------------
def test_parameters_are_carried_by_name_and_the_query_string_is_kept_byte_for_byte() -> None:
    swapped = parse_upstream_path("/v2/w/{wallet}/m/{merchant}", ("merchant", "wallet"), ROUTE)
    assert swapped.target({"merchant": "m1", "wallet": "w2"},
                          b"/api/v1/m/m1/w/w2/?a=%2F&b=1+2&c") == b"/v2/w/w2/m/m1?a=%2F&b=1+2&c"
    assert template().target({"wallet_id": "7"}, b"/api/v1/wallets/7/balance/") == \
        b"/v2/accounts/7/balance"
    assert template().target({"wallet_id": "7"}, b"/api/v1/wallets/7/balance/?") == \
        b"/v2/accounts/7/balance?"
    # an absolute-form target (RFC 9112 3.2.2) loses its scheme and host like any other path
    assert template().target({"wallet_id": "7"}, b"http://api.paystream.in/api/v1/wallets/7/balance/?x=1") \
        == b"/v2/accounts/7/balance?x=1"


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("a/b", "a%2Fb"),  # a slash never starts a new segment
        ("../../admin", "..%2F..%2Fadmin"),
        ("%2F", "%252F"),  # already-encoded text stays text: it is never decoded again
        ("%2e%2e", "%252e%252e"),
        ("..;", "..%3B"),  # the path-parameter trick of some servers ("/..;/" = "/../")
        ("a?x=1#f", "a%3Fx%3D1%23f"),  # cannot start a query or a fragment
        ("x\r\nHost: evil", "x%0D%0AHost%3A%20evil"),  # cannot split the request line
        ("\\..\\", "%5C..%5C"),
        ("\x00", "%00"),
        ("caf\u00e9", "caf%C3%A9"),
        ("a b+c", "a%20b%2Bc"),
        ("...", "..."),  # three dots are a name, not a dot segment
        ("7", "7"),
    ],
)
def test_a_parameter_value_is_percent_encoded_whole_and_cannot_escape_its_segment(
        value: str, segment: str) -> None:
    assert template().render({"wallet_id": value}) == f"/v2/accounts/{segment}/balance"


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_a_value_that_would_be_an_empty_or_dot_segment_is_refused_with_400(value: str) -> None:
    with pytest.raises(ClientRequestError) as refused:
        template().render({"wallet_id": value})
    assert refused.value.status == 400 and "wallet_id" in refused.value.message


@given(st.text(min_size=1).filter(lambda v: v not in (".", "..")))
def test_any_value_renders_to_one_ascii_segment_that_decodes_back_to_it(value: str) -> None:
    rendered = template().render({"wallet_id": value})
    assert rendered.isascii() and all(c not in rendered for c in "?#\\ \r\n")
    segments = rendered.split("/")
    assert len(segments) == 5 and segments[:3] == ["", "v2", "accounts"] and segments[4] == "balance"
    assert unquote(segments[3], errors="strict") == value


# -- the table, the file and the snapshot ----------------------------------------------
def test_the_route_file_takes_an_upstream_path_and_refuses_a_bad_one_with_its_line(tmp_path: Path) -> None:
    good = tmp_path / "routes.toml"
    good.write_text(f'version = 1\n[capabilities."wallets.balance"]\nmode = "extracted"\nroutes = [\n'
                    f'  {{ route = "{ROUTE}", upstream_path = "{NEW}" }},\n]\n')
    (rule,) = parse_route_file(good).capability("wallets.balance").rules
    assert rule.upstream_path == NEW and rule.rewrite is not None
    bad = tmp_path / "bad.toml"
    bad.write_text(f'version = 1\n[capabilities."wallets.balance"]\nroutes = [\n'
                   f'  {{ route = "{ROUTE}", upstream_path = "/v2/../{{wallet_id}}" }},\n]\n')
    with pytest.raises(RouteFileError) as refused:
        parse_route_file(bad)
    assert refused.value.line == 4 and "dot segment" in refused.value.problem
    typo = tmp_path / "typo.toml"
    typo.write_text(f'version = 1\n[capabilities."wallets.balance"]\nroutes = [\n'
                    f'  {{ route = "{ROUTE}", upstream_pth = "{NEW}" }},\n]\n')
    with pytest.raises(RouteFileError, match=r"unknown keys \['upstream_pth'\]"):
        parse_route_file(typo)


def test_the_snapshot_codec_carries_the_upstream_path_and_refuses_a_bad_one() -> None:
    snapshot = {"capabilities": [{"name": "wallets.balance", "mode": "extracted", "rules": [
        {"method": "GET", "path": LEGACY, "host": None, "header": None, "upstream_path": NEW}]}]}
    (rule,) = table_from_snapshot(3, snapshot).capability("wallets.balance").rules
    assert rule.rewrite is not None and rule.rewrite.text == NEW
    snapshot["capabilities"][0]["rules"][0]["upstream_path"] = "/v2/{user_id}"  # type: ignore[index]
    with pytest.raises(RouteTableError, match="does not capture"):
        table_from_snapshot(4, snapshot)


# -- the router: the rewritten target only where the extracted side gets the request -------
def head(target: bytes, merchant: str = "m-1") -> RequestHead:
    raw_path, _, query = target.decode().partition("?")
    headers = {"host": "api.paystream.test", "x-merchant-id": merchant}
    return RequestHead("GET", target, canonical_path(raw_path), query, "1.1",
                       [(k.encode(), v.encode()) for k, v in headers.items()], headers, True, False,
                       None, "127.0.0.1")


def router(mode: Mode, basis_points: int = 0, upstream_path: str | None = NEW) -> Router:
    key = StickyKey(KeyKind.MERCHANT_ID, KeySource.HEADER, "X-Merchant-ID")
    rule = RouteRule("GET", LEGACY, upstream_path=upstream_path)
    return Router(RouteTable(1, (Capability("wallets.balance", (rule,), mode, basis_points, key),)))


@pytest.mark.parametrize(
    ("mode", "basis_points", "rewritten"),
    [
        (Mode.EXTRACTED, 0, True),
        (Mode.SHADOW, 0, True),  # the client gets the monolith; the candidate's copy the new path
        (Mode.CANARY, 10_000, True),
        (Mode.CANARY, 0, False),
        (Mode.MONOLITH, 0, False),
    ],
)
def test_the_router_gives_the_rewritten_target_only_to_the_extracted_side(
        mode: Mode, basis_points: int, rewritten: bool) -> None:
    decision, key, target = router(mode, basis_points).route(head(b"/api/v1/wallets/7/balance/?as_of=1"))
    assert key == ("GET", LEGACY) and decision.capability == "wallets.balance"
    assert target == (b"/v2/accounts/7/balance?as_of=1" if rewritten else None)


def test_a_killed_shim_goes_to_the_monolith_with_the_legacy_path() -> None:
    shim = RouteRule("GET", LEGACY, upstream_path=NEW)
    killed = Router(RouteTable(1, (Capability("wallets.balance", (shim,), Mode.EXTRACTED, killed=True),)))
    decision, _, target = killed.route(head(b"/api/v1/wallets/7/balance/"))
    assert decision.upstream == "monolith" and target is None


def test_a_route_without_a_shim_is_never_rewritten() -> None:
    _, _, target = router(Mode.EXTRACTED, upstream_path=None).route(head(b"/api/v1/wallets/7/balance/"))
    assert target is None


def test_a_parameter_the_template_refuses_is_a_400_even_if_routing_let_it_through() -> None:
    # canonical_path refuses dot segments before routing; the template does not rely on it
    crafted = head(b"/api/v1/wallets/7/balance/")
    crafted.path = "/api/v1/wallets/../balance/"
    with pytest.raises(ClientRequestError) as refused:
        router(Mode.EXTRACTED).route(crafted)
    assert refused.value.status == 400
