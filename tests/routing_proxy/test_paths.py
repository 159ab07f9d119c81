"""The proxy routes on the path the upstream will see, and refuses paths whose meaning is ambiguous."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing_proxy.errors import ClientRequestError
from routing_proxy.paths import canonical_path


@pytest.mark.parametrize(
    ("raw", "routed"),
    [
        ("/api/v1/wallets/7/transactions/", "/api/v1/wallets/7/transactions/"),
        ("/api/v1/wallets/%37/transactions/", "/api/v1/wallets/7/transactions/"),
        ("/", "/"),
        ("http://paystream.example/api/v1/merchant/", "/api/v1/merchant/"),
        ("/api/v1/users/caf%C3%A9/", "/api/v1/users/café/"),
    ],
)
def test_plain_and_percent_encoded_paths_route_by_their_decoded_form(raw: str, routed: str) -> None:
    assert canonical_path(raw) == routed


@pytest.mark.parametrize(
    "raw",
    [
        "/api/v1/wallets%2F7/transactions/",  # Django would decode this into another route
        "/api/v1/wallets%2f7/transactions/",
        "/api/v1/wallets/7/../8/transactions/",
        "/api/v1/wallets/7/%2e%2e/8/",
        "/api/v1/./wallets/7/",
        "/api/v1//wallets/7/transactions/",
        "/api/v1/wallets/7%5Ctransactions/",
        "/api/v1/wallets/7%00/",
        "/api/v1/wallets/%0a/",
        "api/v1/wallets/",
    ],
)
def test_ambiguous_paths_are_refused_with_a_400(raw: str) -> None:
    with pytest.raises(ClientRequestError) as exc:
        canonical_path(raw)
    assert exc.value.status == 400


@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1), max_size=6))
def test_clean_paths_are_unchanged(segments: list[str]) -> None:
    path = "/" + "/".join(segments) + ("/" if segments else "")
    assert canonical_path(path) == path
