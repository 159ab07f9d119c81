"""Transcript normalisation: two runs that differ only in volatile values compare equal."""

from __future__ import annotations

import json

from legacy_client.transcript import Exchange, Transcript, mask_value


def _exchange(body: dict[str, object], *, path: str = "/api/v1/wallets/17/", status: int = 200,
              request_id: str = "r1", volatile: frozenset[str] = frozenset()) -> Exchange:
    return Exchange(step="wallet", method="GET", path=path, request_body=None, status=status,
                    headers={"content-type": "application/json", "x-request-id": request_id,
                             "date": "Sat, 28 Nov 2026 07:00:00 GMT"},
                    body=json.dumps(body).encode(), volatile=volatile)


def test_ids_timestamps_request_ids_and_run_tokens_are_masked() -> None:
    one = Transcript(run_token="aaaa1111", exchanges=[_exchange(
        {"id": 17, "user_id": 3, "created_at": "2026-11-28T13:01:45.123456+05:30",
         "reference": "topup-aaaa1111", "balance": "10.00"})])
    two = Transcript(run_token="bbbb2222", exchanges=[_exchange(
        {"id": 99, "user_id": 40, "created_at": "2026-11-29T09:00:00.000001+05:30",
         "reference": "topup-bbbb2222", "balance": "10.00"}, path="/api/v1/wallets/99/",
        request_id="r2")])
    assert one.normalised() == two.normalised()
    body = one.normalised()[0]["body"]
    assert body == {"id": "<id>", "user_id": "<id>", "created_at": "<timestamp>",
                    "reference": "topup-<run>", "balance": "10.00"}
    assert one.normalised()[0]["path"] == "/api/v1/wallets/<id>/"
    assert one.normalised()[0]["headers"] == {"content-type": "application/json"}


def test_business_values_are_not_masked() -> None:
    one = Transcript(run_token="t", exchanges=[_exchange({"id": 1, "balance": "10.00"})])
    two = Transcript(run_token="t", exchanges=[_exchange({"id": 1, "balance": "10.01"})])
    assert one.normalised() != two.normalised()
    status = Transcript(run_token="t", exchanges=[_exchange({"id": 1}, status=404)])
    assert status.normalised() != Transcript(
        run_token="t", exchanges=[_exchange({"id": 1})]).normalised()


def test_secrets_next_links_and_volatile_keys_are_masked() -> None:
    masked = mask_value({"secret": "whsec_123", "next": "http://proxy:9000/api/v1/wallets/5/"
                         "transactions/?page=2&page_size=2", "count": 7, "results": [1, 2]},
                        token="", volatile=frozenset({"count", "results"}))
    assert masked == {"secret": "<secret>",
                      "next": "/api/v1/wallets/<id>/transactions/?page=2&page_size=2",
                      "count": "<count>", "results": "<results>"}


def test_a_transcript_is_ok_until_a_failure_is_recorded() -> None:
    transcript = Transcript(run_token="t")
    assert transcript.ok
    transcript.fail("debit", "status 500, expected 201")
    assert not transcript.ok
    assert str(transcript.failures[0]) == "debit: status 500, expected 201"


def test_booleans_named_like_ids_and_non_json_bodies_survive() -> None:
    assert mask_value({"is_id": True, "wallet_id": None}, token="") == {"is_id": True,
                                                                        "wallet_id": None}
    exchange = Exchange("html", "GET", "/admin/login/", None, 200, {}, b"<html>token</html>")
    assert Transcript(run_token="token", exchanges=[exchange]).normalised()[0]["body"] == (
        "<html><run></html>")


def test_ids_inside_messages_and_csrf_tokens_are_masked_but_amounts_are_not() -> None:
    def run(wallet: int, csrf: str) -> Transcript:
        return Transcript(run_token="0f3a9c21be77", exchanges=[
            _exchange({"id": wallet}),
            _exchange({"message": f"Wallet {wallet} has 1150.25, less than 9.00."}, status=409),
            Exchange("login", "POST", "/admin/login/", f"csrfmiddlewaretoken={csrf}&u=ops".encode(),
                     302, {}, b""),
        ])

    one, two = run(1005, "Xa2ylKdaclBA2Nes"), run(1007, "ST1lMhhjx4lRij7K")
    assert one.normalised() == two.normalised()
    assert one.normalised()[1]["body"]["message"] == "Wallet <id> has 1150.25, less than 9.00."
    assert one.normalised()[2]["request"] == "csrfmiddlewaretoken=<csrf>&u=ops"
