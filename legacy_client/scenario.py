"""A scripted merchant integration that walks every endpoint of the PayStream v1 contract.

It behaves like a real integration: API-key auth, idempotent retries, following
``next`` links, a staff reviewer logging in through the Django admin form with
CSRF. Each step checks its expectation; a miss is recorded in the transcript,
not raised, so one run reports every broken step. Only an unreachable server
stops the run. The transport is injectable (a proxy, or a WSGI/ASGI app).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx

from legacy_client.errors import ServerUnreachableError
from legacy_client.transcript import Exchange, Transcript

JSON = "application/json"
UNKNOWN_ID = 999_999_999_999
Check = Callable[[Any], str | None]  # returns a message when the body is not as expected


def run_scenario(
    base_url: str,
    *,
    api_key: str,
    staff_username: str,
    staff_password: str,
    transport: httpx.BaseTransport | None = None,
    foreign_wallet_id: int | None = None,
    timeout: float = 30.0,
) -> Transcript:
    """Run the scripted integration once; ``foreign_wallet_id`` (another merchant's) adds a 404 check."""
    with httpx.Client(base_url=base_url, transport=transport, timeout=timeout) as merchant, \
            httpx.Client(base_url=base_url, transport=transport, timeout=timeout) as staff:
        script = _Script(merchant, staff, api_key, Transcript(run_token=uuid.uuid4().hex[:12]))
        script.run(staff_username, staff_password, foreign_wallet_id)
        return script.transcript


def _error(code: str) -> Check:
    def check(body: Any) -> str | None:
        if not isinstance(body, dict) or body.get("status") != "error":
            return f"expected an error body with error_code {code}, got {body!r:.200}"
        if body.get("error_code") != code:
            return f"expected error_code {code}, got {body.get('error_code')!r}"
        if not isinstance(body.get("errors"), dict) or not isinstance(body.get("message"), str):
            return "error body lacks 'message' (string) or 'errors' (object)"
        return None
    return check


def _fields(**expected: Any) -> Check:
    def check(body: Any) -> str | None:
        if not isinstance(body, dict):
            return f"expected a JSON object, got {body!r:.200}"
        for key, want in expected.items():
            if key not in body:
                return f"missing field {key!r}"
            if want is not ... and body[key] != want:
                return f"{key} = {body[key]!r}, expected {want!r}"
        return None
    return check


def _field_error(code: str, field: str) -> Check:
    base = _error(code)

    def check(body: Any) -> str | None:
        problem = base(body)
        if problem is None and field not in body["errors"]:
            problem = f"errors does not name field {field!r}: {body['errors']!r}"
        return problem
    return check


def _page(body: Any) -> str | None:
    return _fields(count=..., next=..., previous=..., results=...)(body)


class _Script:
    def __init__(self, merchant: httpx.Client, staff: httpx.Client, api_key: str,
                 transcript: Transcript) -> None:
        self.merchant = merchant
        self.staff = staff
        self.auth = {"Authorization": f"Api-Key {api_key}"}
        self.transcript = transcript
        self.token = transcript.run_token

    # -- one step ----------------------------------------------------------------------------

    def call(self, step: str, method: str, path: str, *, json_body: Any = None,
             raw_body: bytes | None = None, headers: Mapping[str, str] | None = None,
             expect: int, check: Check | None = None, client: httpx.Client | None = None,
             authenticated: bool = True, volatile: frozenset[str] = frozenset(),
             form: Mapping[str, str] | None = None) -> Exchange:
        sent: dict[str, str] = dict(self.auth) if authenticated else {}
        body = raw_body
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent["Content-Type"] = JSON
        if form is not None:
            body = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        sent.update(headers or {})
        http = client or self.merchant
        try:
            response = http.request(method, path, content=body, headers=sent)
        except httpx.TransportError as exc:
            raise ServerUnreachableError(
                f"step {step!r}: {method} {path} got no response ({exc.__class__.__name__}: "
                f"{exc}). Nothing more was sent; check that the server at {http.base_url} runs."
            ) from exc
        url = response.request.url
        exchange = Exchange(
            step=step, method=method, path=url.raw_path.decode(), request_body=body,
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=response.content, volatile=volatile)
        self.transcript.exchanges.append(exchange)
        if response.status_code != expect:
            self.transcript.fail(step, f"{method} {path}: status {response.status_code}, expected "
                                       f"{expect}; body {response.content[:300]!r}")
        elif check is not None:
            problem = check(exchange.json())
            if problem:
                self.transcript.fail(step, f"{method} {path}: {problem}")
        return exchange

    def id_from(self, exchange: Exchange, key: str = "id") -> int | None:
        body = exchange.json()
        value = body.get(key) if isinstance(body, dict) else None
        return value if isinstance(value, int) else None

    def need(self, step: str, **values: int | None) -> bool:
        missing = [name for name, value in values.items() if value is None]
        if missing:
            self.transcript.fail(step, f"skipped: no {', '.join(missing)} from an earlier step")
        return not missing

    # -- the script --------------------------------------------------------------------------

    def run(self, staff_username: str, staff_password: str, foreign_wallet_id: int | None) -> None:
        t = self.token
        self.call("healthz", "GET", "/healthz", expect=200, check=_fields(status="ok"),
                  authenticated=False)
        self.call("merchant profile", "GET", "/api/v1/merchant/", expect=200,
                  check=_fields(id=..., name=..., email=..., is_active=True, created_at=...))
        user_body = {"external_ref": f"scn-{t}-1", "full_name": "Asha Rao",
                     "email": "asha.rao@example.in", "phone": "+919812345678"}
        user_id = self.id_from(self.call(
            "create user", "POST", "/api/v1/users/", json_body=user_body, expect=201,
            check=_fields(external_ref=f"scn-{t}-1", kyc_status=0, kyc_status_display="NONE")))
        peer_id = self.id_from(self.call(
            "create second user", "POST", "/api/v1/users/", expect=201,
            json_body={"external_ref": f"scn-{t}-2", "full_name": "Vikram Iyer"},
            check=_fields(email="", phone="")))
        self.call("duplicate external_ref", "POST", "/api/v1/users/", json_body=user_body,
                  expect=400, check=_field_error("VALIDATION_ERROR", "external_ref"))
        self.call("list users", "GET", "/api/v1/users/", expect=200, check=_page,
                  volatile=frozenset({"count", "next", "previous", "results"}))
        if not self.need("user detail", user_id=user_id) or user_id is None:
            return
        self.call("user detail", "GET", f"/api/v1/users/{user_id}/", expect=200,
                  check=_fields(id=user_id, full_name="Asha Rao"))

        wallet_id = self.id_from(self.call(
            "create wallet (locked)", "POST", "/api/v1/wallets/", json_body={"user_id": user_id},
            expect=201, check=_fields(currency="INR", balance="0.00", limits_locked=True,
                                      status=1, status_display="ACTIVE")))
        if not self.need("kyc", wallet_id=wallet_id) or wallet_id is None:
            return
        self.call("debit on locked wallet", "POST", f"/api/v1/wallets/{wallet_id}/debit/",
                  json_body={"amount": "1.00"}, expect=409, check=_error("WALLET_LOCKED"))
        submission_id = self.id_from(self.call(
            "submit kyc", "POST", f"/api/v1/users/{user_id}/kyc/", expect=201,
            json_body={"document_type": "pan", "document_number": "ABCDE1234F"},
            check=_fields(user_id=user_id, document_type="pan",
                          document_number_masked="XXXXXX234F", status=1, status_display="PENDING")))
        self.call("resubmit kyc", "POST", f"/api/v1/users/{user_id}/kyc/", expect=409,
                  json_body={"document_type": "aadhaar", "document_number": "234567890123"},
                  check=_error("KYC_ALREADY_SUBMITTED"))
        self.call("list kyc submissions", "GET", f"/api/v1/users/{user_id}/kyc/", expect=200,
                  check=lambda body: None if isinstance(body, list) and len(body) == 1
                  else f"expected a list of one submission, got {body!r:.200}")
        if self.need("staff review", submission_id=submission_id) and submission_id is not None:
            self.staff_review(submission_id, staff_username, staff_password)
        self.call("wallet unlocked", "GET", f"/api/v1/wallets/{wallet_id}/", expect=200,
                  check=_fields(id=wallet_id, user_id=user_id, limits_locked=False))
        self.money(wallet_id, user_id, peer_id)
        self.webhooks()
        self.report()
        self.errors(wallet_id, foreign_wallet_id)

    def staff_review(self, submission_id: int, username: str, password: str) -> None:
        verify = f"/api/v1/staff/kyc/{submission_id}/verify/"
        self.call("verify without staff session", "POST", verify, json_body={}, expect=403,
                  check=_error("STAFF_ONLY"), client=self.staff, authenticated=False)
        self.call("admin login form", "GET", "/admin/login/", expect=200, client=self.staff,
                  authenticated=False)
        csrf = self.staff.cookies.get("csrftoken")
        if not csrf:
            self.transcript.fail("admin login form", "no csrftoken cookie was set")
            return
        self.call("admin login", "POST", "/admin/login/?next=/admin/", expect=302,
                  client=self.staff, authenticated=False,
                  form={"csrfmiddlewaretoken": csrf, "username": username,
                        "password": password, "next": "/admin/"},
                  headers={"Referer": str(self.staff.base_url.join("/admin/login/"))})
        # Django rotates the CSRF token at login; the cookie jar holds the new one.
        csrf = self.staff.cookies.get("csrftoken") or csrf
        self.call("staff verifies kyc", "POST", verify, json_body={}, expect=200,
                  client=self.staff, authenticated=False, headers={"X-CSRFToken": csrf},
                  check=_fields(id=submission_id, status=2, status_display="VERIFIED",
                                reviewed_at=...))

    def money(self, wallet_id: int, user_id: int, peer_id: int | None) -> None:
        t = self.token
        wallet = f"/api/v1/wallets/{wallet_id}"
        credit = {"amount": "1000.00", "reference": f"topup-{t}", "description": "UPI top-up"}
        key = {"Idempotency-Key": f"credit-{t}"}
        first = self.call("credit (idempotent)", "POST", f"{wallet}/credit/", json_body=credit,
                          headers=key, expect=201,
                          check=_fields(txn_type=1, txn_type_display="CREDIT", amount="1000.00",
                                        balance_after="1000.00", wallet_id=wallet_id))
        retry = self.call("credit retry replays", "POST", f"{wallet}/credit/", json_body=credit,
                          headers=key, expect=first.status)
        if retry.body != first.body:
            self.transcript.fail("credit retry replays",
                                 f"replayed body differs: {first.body!r:.200} vs {retry.body!r:.200}")
        self.call("credit with a JSON number", "POST", f"{wallet}/credit/",
                  json_body={"amount": 250.5}, expect=201,
                  check=_fields(amount="250.50", balance_after="1250.50"))
        self.call("debit", "POST", f"{wallet}/debit/", expect=201,
                  json_body={"amount": "100.25", "description": "Order payment"},
                  check=_fields(txn_type=2, amount="100.25", balance_after="1150.25"))
        self.call("overdraft refused", "POST", f"{wallet}/debit/",
                  json_body={"amount": "999999.00"}, expect=409,
                  check=_error("INSUFFICIENT_FUNDS"))
        peer_wallet = None
        if peer_id is not None:
            peer_wallet = self.id_from(self.call(
                "create second wallet", "POST", "/api/v1/wallets/", json_body={"user_id": peer_id},
                expect=201, check=_fields(limits_locked=True)))
        if self.need("transfer", peer_wallet=peer_wallet):
            self.call("transfer", "POST", "/api/v1/transfers/", expect=201,
                      json_body={"from_wallet_id": wallet_id, "to_wallet_id": peer_wallet,
                                 "amount": "50.00", "reference": f"trf-{t}"},
                      check=lambda b: _fields(debit=..., credit=...)(b) or _fields(
                          txn_type=4, amount="50.00", balance_after="1100.25",
                          related_wallet_id=peer_wallet)(b["debit"]) or _fields(
                          txn_type=3, amount="50.00", balance_after="50.00")(b["credit"]))
        self.call("transfer to the same wallet", "POST", "/api/v1/transfers/", expect=400,
                  json_body={"from_wallet_id": wallet_id, "to_wallet_id": wallet_id,
                             "amount": "1.00"}, check=_error("SAME_WALLET"))
        self.history(wallet)
        self.call("balance", "GET", f"{wallet}/balance/", expect=200,
                  check=_fields(wallet_id=wallet_id, currency="INR", balance="1100.25",
                                updated_at=...))
        self.payouts(wallet, wallet_id, user_id)

    def history(self, wallet: str) -> None:
        """Page through the history two at a time, following ``next`` like integrations do."""
        url: str | None = f"{wallet}/transactions/?page_size=2"
        seen: list[int] = []
        count = None
        for page in range(1, 20):
            exchange = self.call(f"history page {page}", "GET", url or "", expect=200, check=_page)
            body = exchange.json()
            if exchange.status != 200 or not isinstance(body, dict):
                return
            count = body.get("count")
            seen += [txn.get("id") for txn in body.get("results", [])]
            url = body.get("next")
            if url is None:
                break
        if seen != sorted(seen, reverse=True) or len(seen) != count or count != 4:
            self.transcript.fail("history", f"expected 4 transactions newest first over the "
                                            f"pages, got ids {seen} with count {count}")

    def payouts(self, wallet: str, wallet_id: int, user_id: int) -> None:
        t = self.token
        account_id = self.id_from(self.call(
            "create bank account", "POST", "/api/v1/bank-accounts/", expect=201,
            json_body={"account_number": "123456789012", "ifsc": "HDFC0001234",
                       "holder_name": "ASHA RAO", "user_id": user_id},
            check=_fields(account_number_masked="XXXXXX9012", ifsc="HDFC0001234",
                          user_id=user_id)))
        self.call("list bank accounts", "GET", "/api/v1/bank-accounts/", expect=200, check=_page,
                  volatile=frozenset({"count", "next", "previous", "results"}))
        if not self.need("payout", account_id=account_id):
            return
        body = {"wallet_id": wallet_id, "bank_account_id": account_id, "amount": "100.00"}
        self.call("payout without idempotency key", "POST", "/api/v1/payouts/", json_body=body,
                  expect=400, check=_error("IDEMPOTENCY_KEY_REQUIRED"))
        key = {"Idempotency-Key": f"payout-{t}"}
        first = self.call("payout", "POST", "/api/v1/payouts/", json_body=body, headers=key,
                          expect=201, check=_fields(wallet_id=wallet_id, amount="100.00",
                                                    status=2, status_display="PROCESSING"))
        retry = self.call("payout retry replays", "POST", "/api/v1/payouts/", json_body=body,
                          headers=key, expect=first.status)
        if retry.body != first.body:
            self.transcript.fail("payout retry replays",
                                 f"replayed body differs: {first.body!r:.200} vs {retry.body!r:.200}")
        self.call("payout key reused with another body", "POST", "/api/v1/payouts/",
                  json_body={**body, "amount": "101.00"}, headers=key, expect=422,
                  check=_error("IDEMPOTENCY_KEY_REUSED"))
        payout_id = self.id_from(first)
        if self.need("payout detail", payout_id=payout_id):
            # Settlement runs in the background: PROCESSING or already PAID are both right.
            self.call("payout detail", "GET", f"/api/v1/payouts/{payout_id}/", expect=200,
                      check=lambda b: _fields(id=payout_id)(b) or (
                          None if b.get("status") in (2, 3) else f"status {b.get('status')}"),
                      volatile=frozenset({"status", "status_display", "provider_ref",
                                          "updated_at"}))
        self.call("list payouts", "GET", "/api/v1/payouts/", expect=200, check=_page,
                  volatile=frozenset({"count", "next", "previous", "results"}))
        self.call("balance after payout", "GET", f"{wallet}/balance/", expect=200,
                  check=_fields(balance="1000.25"))

    def webhooks(self) -> None:
        endpoint_id = self.id_from(self.call(
            "create webhook", "POST", "/api/v1/webhooks/", expect=201,
            json_body={"url": f"http://127.0.0.1:9/hooks/{self.token}",
                       "events": ["wallet.credited", "payout.paid"]},
            check=_fields(id=..., secret=..., events=["wallet.credited", "payout.paid"],
                          is_active=True)))

        def no_secrets(body: Any) -> str | None:
            problem = _page(body)
            if problem is None and any("secret" in e for e in body["results"]):
                problem = "a listed webhook endpoint shows its secret"
            return problem

        self.call("list webhooks", "GET", "/api/v1/webhooks/", expect=200, check=no_secrets,
                  volatile=frozenset({"count", "next", "previous", "results"}))
        if self.need("delete webhook", endpoint_id=endpoint_id):
            self.call("delete webhook", "DELETE", f"/api/v1/webhooks/{endpoint_id}/", expect=204)
            self.call("delete webhook again", "DELETE", f"/api/v1/webhooks/{endpoint_id}/",
                      expect=404, check=_error("NOT_FOUND"))

    def report(self) -> None:
        today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
        start = today - timedelta(days=6)
        self.call("daily report", "GET", f"/api/v1/reports/daily/?from={start}&to={today}",
                  expect=200, check=_fields(**{"from": str(start), "to": str(today), "days": ...}),
                  volatile=frozenset({"days"}))
        self.call("daily report, bad date", "GET", "/api/v1/reports/daily/?from=2026-13-01&to="
                  f"{today}", expect=400, check=_error("VALIDATION_ERROR"))
        self.call("daily report, range too long", "GET",
                  f"/api/v1/reports/daily/?from={today - timedelta(days=400)}&to={today}",
                  expect=400, check=_error("VALIDATION_ERROR"))

    def errors(self, wallet_id: int, foreign_wallet_id: int | None) -> None:
        wallet = f"/api/v1/wallets/{wallet_id}"
        before = self.call("balance before bad input", "GET", f"{wallet}/balance/", expect=200)
        self.call("malformed JSON", "POST", "/api/v1/users/", raw_body=b'{"external_ref": ',
                  headers={"Content-Type": JSON}, expect=400, check=_error("MALFORMED_JSON"))
        self.call("missing field", "POST", "/api/v1/users/", json_body={"full_name": "No Ref"},
                  expect=400, check=_field_error("VALIDATION_ERROR", "external_ref"))
        self.call("negative amount", "POST", f"{wallet}/credit/", json_body={"amount": "-5.00"},
                  expect=400, check=_field_error("VALIDATION_ERROR", "amount"))
        self.call("three decimals", "POST", f"{wallet}/credit/", json_body={"amount": "1.005"},
                  expect=400, check=_field_error("VALIDATION_ERROR", "amount"))
        self.call("not JSON content type", "POST", f"{wallet}/credit/", raw_body=b"amount=1",
                  headers={"Content-Type": "text/plain"}, expect=415,
                  check=_error("UNSUPPORTED_MEDIA_TYPE"))
        self.call("method not allowed", "DELETE", "/api/v1/merchant/", expect=405,
                  check=_error("METHOD_NOT_ALLOWED"))
        self.call("wrong API key", "GET", f"{wallet}/balance/", authenticated=False,
                  headers={"Authorization": "Api-Key ps_test_not-a-real-key"}, expect=401,
                  check=_error("INVALID_API_KEY"))
        self.call("missing API key", "GET", f"{wallet}/balance/", authenticated=False,
                  expect=401, check=_error("AUTHENTICATION_REQUIRED"))
        self.call("unknown wallet", "GET", f"/api/v1/wallets/{UNKNOWN_ID}/", expect=404,
                  check=_error("NOT_FOUND"))
        if foreign_wallet_id is not None:
            self.call("another merchant's wallet", "GET", f"/api/v1/wallets/{foreign_wallet_id}/",
                      expect=404, check=_error("NOT_FOUND"))
            self.call("credit another merchant's wallet", "POST",
                      f"/api/v1/wallets/{foreign_wallet_id}/credit/", json_body={"amount": "1.00"},
                      expect=404, check=_error("NOT_FOUND"))
        after = self.call("bad input changed nothing", "GET", f"{wallet}/balance/", expect=200)
        if before.body != after.body:
            self.transcript.fail("bad input changed nothing",
                                 f"balance moved: {before.body!r} -> {after.body!r}")
