"""Pure routing decisions: matching, canary bucketing and modes (property-tested)."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from routing_proxy.canary_key import sticky_key_value
from routing_proxy.decision import MONOLITH, bucket, decide, in_canary, match
from routing_proxy.routes import (
    Capability,
    KeyKind,
    KeySource,
    Mode,
    RouteRule,
    RouteTable,
    StickyKey,
)

segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
keys = st.text(min_size=1, max_size=40)
HISTORY = RouteRule("GET", "/api/v1/wallets/{id}/transactions/")
BY_ID = StickyKey(KeyKind.MERCHANT_ID, KeySource.PATH_PARAM, "id")


def table_with(mode: Mode, basis_points: int = 0, **options: object) -> RouteTable:
    capability = Capability("ledger.history", (HISTORY,), mode, basis_points,
                            BY_ID if mode is Mode.CANARY else None, **options)  # type: ignore[arg-type]
    return RouteTable(1, (capability,))


@given(wallet=segment)
def test_a_path_matching_the_pattern_matches_and_binds_the_parameter(wallet: str) -> None:
    found = match(table_with(Mode.EXTRACTED), "GET", f"/api/v1/wallets/{wallet}/transactions/",
                  "h", {})
    assert found is not None and found.params == {"id": wallet}


@given(segments=st.lists(segment, min_size=0, max_size=6), method=st.sampled_from(["GET", "POST"]))
def test_other_paths_and_methods_do_not_match(segments: list[str], method: str) -> None:
    path = "/" + "/".join(segments)
    found = match(table_with(Mode.EXTRACTED), method, path, None, {})
    expected = (method == "GET" and len(segments) == 5 and segments[:3] == ["api", "v1", "wallets"]
                and segments[4] == "transactions")
    assert (found is not None) == expected  # the pattern has no trailing "" here, so never


def test_an_empty_parameter_segment_does_not_match() -> None:
    assert match(table_with(Mode.EXTRACTED), "GET", "/api/v1/wallets//transactions/", None, {}) is None


def test_host_and_header_conditions_narrow_a_rule() -> None:
    rule = RouteRule("GET", "/a/", host="api.example", header=("X-V", "2"))
    table = RouteTable(1, (Capability("a", (rule,)),))
    assert match(table, "GET", "/a/", "API.example:8443", {"x-v": "2"}) is not None
    assert match(table, "GET", "/a/", "other.example", {"x-v": "2"}) is None
    assert match(table, "GET", "/a/", "api.example", {"x-v": "3"}) is None


@given(capability=segment, key=keys)
def test_bucket_is_in_range_and_deterministic(capability: str, key: str) -> None:
    assert 0 <= bucket(capability, key) < 10_000
    assert bucket(capability, key) == bucket(capability, key)


def test_bucket_is_stable_across_processes_and_restarts() -> None:
    """Another interpreter (another hash seed) computes the same buckets as this one."""
    pairs = [("ledger.history", f"merchant-{i}") for i in range(50)]
    here = [bucket(c, k) for c, k in pairs]
    code = ("from routing_proxy.decision import bucket;"
            f"print([bucket(c, k) for c, k in {pairs!r}])")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "12345"})
    assert other.stdout.strip() == str(here)


def test_bucket_pinned_value_never_changes() -> None:
    """Changing the bucketing function would silently move live canary users between sides."""
    assert bucket("ledger.history", "merchant-1") == 370


@settings(max_examples=30, deadline=None)
@given(basis_points=st.integers(min_value=0, max_value=10_000))
def test_share_of_keys_in_the_canary_matches_the_percentage(basis_points: int) -> None:
    n = 20_000
    inside = sum(in_canary("ledger.history", basis_points, f"merchant-{i}") for i in range(n))
    expected = n * basis_points / 10_000
    # 5 standard deviations of a binomial, plus rounding slack
    tolerance = 5 * (n * (basis_points / 10_000) * (1 - basis_points / 10_000)) ** 0.5 + 1
    assert abs(inside - expected) <= tolerance


@given(key=keys, low=st.integers(0, 10_000), high=st.integers(0, 10_000))
def test_raising_the_percentage_never_moves_a_key_back_to_the_monolith(
    key: str, low: int, high: int
) -> None:
    low, high = min(low, high), max(low, high)
    if in_canary("ledger.history", low, key):
        assert in_canary("ledger.history", high, key)


@given(key=keys, basis_points=st.integers(0, 10_000))
def test_a_canary_decision_is_sticky_for_a_key(key: str, basis_points: int) -> None:
    table = table_with(Mode.CANARY, basis_points)
    found = match(table, "GET", "/api/v1/wallets/x/transactions/", None, {})
    first = decide(table, found, "GET", key)
    assert all(decide(table, found, "GET", key) == first for _ in range(3))
    assert (first.upstream != MONOLITH) == (bucket("ledger.history", key) < basis_points)


def test_modes_decide_upstream_shadow_and_fallback() -> None:
    path = "/api/v1/wallets/7/transactions/"
    extracted = table_with(Mode.EXTRACTED)
    found = match(extracted, "GET", path, None, {})
    get = decide(extracted, found, "GET", None)
    assert (get.upstream, get.fallback_allowed, get.shadow) == ("extracted", True, False)
    shadow = table_with(Mode.SHADOW)
    decided = decide(shadow, match(shadow, "GET", path, None, {}), "GET", None)
    assert (decided.upstream, decided.shadow) == (MONOLITH, True)
    no_fallback = table_with(Mode.EXTRACTED, fallback=False)
    assert not decide(no_fallback, match(no_fallback, "GET", path, None, {}), "GET", None).fallback_allowed
    assert decide(extracted, None, "GET", None).reason == "unmatched"


def test_writes_never_get_fallback() -> None:
    rule = RouteRule("POST", "/api/v1/payouts/")
    table = RouteTable(1, (Capability("payouts", (rule,), Mode.EXTRACTED),))
    decided = decide(table, match(table, "POST", "/api/v1/payouts/", None, {}), "POST", None)
    assert decided.upstream == "extracted" and not decided.fallback_allowed


def test_kill_switches_send_everything_to_the_monolith() -> None:
    path = "/api/v1/wallets/7/transactions/"
    for table in (table_with(Mode.EXTRACTED, killed=True),
                  RouteTable(2, table_with(Mode.EXTRACTED).capabilities, kill_switch=True)):
        decided = decide(table, match(table, "GET", path, None, {}), "GET", None)
        assert decided.upstream == MONOLITH and decided.reason in {"killed", "kill_switch"}


def test_a_canary_without_a_key_stays_on_the_monolith() -> None:
    table = table_with(Mode.CANARY, 10_000)
    found = match(table, "GET", "/api/v1/wallets/7/transactions/", None, {})
    assert decide(table, found, "GET", None).reason == "canary_no_key"


def test_sticky_key_sources() -> None:
    header = StickyKey(KeyKind.API_KEY, KeySource.HEADER, "X-API-Key")
    query = StickyKey(KeyKind.USER_ID, KeySource.QUERY_PARAM, "user")
    assert sticky_key_value(header, {"x-api-key": "k1"}, {}, "") == "k1"
    assert sticky_key_value(BY_ID, {}, {"id": "m9"}, "") == "m9"
    assert sticky_key_value(query, {}, {}, "a=1&user=u5") == "u5"
    assert sticky_key_value(query, {}, {}, "user=") is None
    assert sticky_key_value(None, {"x-api-key": "k1"}, {}, "") is None
