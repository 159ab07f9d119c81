"""The route model and the TOML route file: valid tables load, invalid ones are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from routing_proxy.errors import RouteConflictError, RouteFileError, RouteTableError
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

GOOD = """\
version = 7

[capabilities."ledger.history"]
mode = "canary"
percent = "5.25"
sticky_key = { kind = "merchant_id", path_param = "id" }
routes = [
    "GET /api/v1/wallets/{id}/transactions/",
    { route = "GET /api/v1/ledger/{id}/", host = "API.paystream.in", header = "X-Api-Version: 2" },
]

[capabilities."payouts.create"]
mode = "extracted"
fallback = false
routes = ["POST /api/v1/payouts/"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routes.toml"
    path.write_text(text)
    return path


def test_a_valid_file_loads_into_typed_objects(tmp_path: Path) -> None:
    table = parse_route_file(write(tmp_path, GOOD))
    assert table.version == 7
    history = table.capability("ledger.history")
    assert history.mode is Mode.CANARY
    assert history.canary_basis_points == 525
    assert history.sticky_key == StickyKey(KeyKind.MERCHANT_ID, KeySource.PATH_PARAM, "id")
    assert history.rules[0].line == 8
    assert history.rules[1].host == "api.paystream.in"
    assert history.rules[1].header == ("x-api-version", "2")
    assert table.capability("payouts.create").fallback is False


def test_overlapping_rules_in_a_file_are_refused_naming_both_and_the_lines(tmp_path: Path) -> None:
    text = GOOD + '\n[capabilities."wallets.read"]\nroutes = ["GET /api/v1/wallets/me/transactions/"]\n'
    with pytest.raises(RouteFileError) as caught:
        parse_route_file(write(tmp_path, text))
    message = str(caught.value)
    assert "GET /api/v1/wallets/{id}/transactions/" in message
    assert "GET /api/v1/wallets/me/transactions/" in message
    assert "unreachable" in message and "line 8" in message and "line 18" in message
    assert "Fix:" in message and str(tmp_path / "routes.toml") in message


def test_partially_overlapping_rules_are_reported_as_overlap_with_an_example() -> None:
    a = Capability("a", (RouteRule("GET", "/w/{id}/x/"),))
    b = Capability("b", (RouteRule("GET", "/w/me/{kind}/"),))
    with pytest.raises(RouteConflictError) as caught:
        RouteTable(1, (a, b))
    assert "overlap" in str(caught.value) and "GET /w/me/x/" in str(caught.value)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (RouteRule("GET", "/w/{id}/"), RouteRule("POST", "/w/{id}/")),
        (RouteRule("GET", "/w/{id}/"), RouteRule("GET", "/w/{id}/x/")),
        (RouteRule("GET", "/w/a/"), RouteRule("GET", "/w/b/")),
        (RouteRule("GET", "/w/", host="a.example"), RouteRule("GET", "/w/", host="b.example")),
        (RouteRule("GET", "/w/", header=("V", "1")), RouteRule("GET", "/w/", header=("v", "2"))),
    ],
)
def test_disjoint_rules_coexist(first: RouteRule, second: RouteRule) -> None:
    table = RouteTable(1, (Capability("a", (first,)), Capability("b", (second,))))
    assert len(table.capabilities) == 2


def test_a_duplicate_rule_inside_one_capability_is_refused() -> None:
    with pytest.raises(RouteConflictError):
        RouteTable(1, (Capability("a", (RouteRule("GET", "/x/"), RouteRule("GET", "/x/"))),))


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ('mode = "sideways"\nroutes = ["GET /a/"]', "use one of monolith, shadow, canary"),
        ('mode = "canary"\npercent = "5.255"\nroutes = ["GET /a/"]', "steps of 0.01"),
        ('mode = "canary"\npercent = 101\nroutes = ["GET /a/"]', "from 0 to 100"),
        ('mode = "canary"\nroutes = ["GET /a/"]', "without a sticky_key"),
        ('routes = ["get /a/"]', "upper-case HTTP method"),
        ('routes = ["GET /a/{x/"]', "whole {name}"),
        ('routes = ["GET /a/{id}/"]\nmode = "canary"\npercent = 1\n'
         'sticky_key = { kind = "user_id", path_param = "user" }', "is not a parameter"),
        ('routes = ["GET /a/"]\nsticky_key = { kind = "shoe_size", header = "X" }', "kind"),
        ('routes = ["GET /a/"]\ncolour = "red"', "unknown keys"),
        ("routes = []", "has no routes"),
    ],
)
def test_invalid_capabilities_are_refused_with_file_line_and_fix(
    tmp_path: Path, snippet: str, expected: str
) -> None:
    path = write(tmp_path, f'version = 1\n\n[capabilities."broken.one"]\n{snippet}\n')
    with pytest.raises(RouteFileError) as caught:
        parse_route_file(path)
    assert expected in str(caught.value)
    assert caught.value.path == str(path) and caught.value.line is not None
    assert "Fix:" in str(caught.value)


def test_missing_version_broken_toml_and_missing_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RouteFileError, match="version"):
        parse_route_file(write(tmp_path, "kill_switch = true\n"))
    with pytest.raises(RouteFileError, match="not valid TOML"):
        parse_route_file(write(tmp_path, "version = \n"))
    with pytest.raises(RouteFileError, match="cannot read"):
        parse_route_file(tmp_path / "absent.toml")


def test_capability_names_must_be_unique() -> None:
    rule = RouteRule("GET", "/a/")
    with pytest.raises(RouteTableError, match="unique"):
        RouteTable(1, (Capability("a", (rule,)), Capability("a", (RouteRule("GET", "/b/"),))))
