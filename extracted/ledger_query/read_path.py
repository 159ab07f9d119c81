"""The lean read path of the balance and history endpoints: one SQL round trip per request.

One statement per request resolves the API key's hash to its merchant (unrevoked key,
merchant not deactivated), checks the wallet belongs to it, reads the sync marks and,
for history, counts the wallet's transactions and fetches the requested page. Rows
are rendered by ``wire`` (the one place the legacy shapes live) and serialised exactly
as DRF's ``JSONRenderer`` does, so the bytes stay the monolith's.

Auth is looked up on every request, never cached: revocation and deactivation take
effect on the next request.

Anything off the common path is handed to the DRF views in ``views`` unchanged:
methods other than GET (HEAD, OPTIONS, 405s), an ``Accept`` header other than
``*/*`` or ``application/json`` (DRF negotiates, may pretty-print or answer 406) and a
``format`` query parameter (DRF's format override).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, cast

import psycopg
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from psycopg.rows import namedtuple_row
from rest_framework.utils.urls import remove_query_param, replace_query_param

from extracted.ledger_query import sync, views, wire
from extracted.ledger_query.auth import SCHEME, hash_api_key, invalid_key, parse_authorization
from extracted.ledger_query.ledger.models import LedgerTransaction, LedgerWallet
from monolith.common.errors import ApiError, error_body, not_found

PAGE_SIZE = 20  # monolith.common.pagination.LegacyPagination
MAX_PAGE_SIZE = 100
# Larger page numbers are past the last page of any wallet; clamped so offsets stay in bigint.
_MAX_PAGE = 10**15
NOT_A_PAGE = 0
_FAST_ACCEPT = frozenset({None, "*/*", "application/json"})
_ALLOW = "GET, HEAD, OPTIONS"  # what DRF's generic views announce on every response

_PRINCIPAL = """
    principal AS (
        SELECT k.merchant_id FROM ledger_api_key k
        WHERE k.key_hash = %(key_hash)s AND k.revoked_at IS NULL
          AND NOT EXISTS (SELECT 1 FROM ledger_merchant m
                          WHERE m.merchant_id = k.merchant_id AND NOT m.active)
    ),
    wallet AS (
        SELECT w.wallet_id, w.currency, w.balance, w.updated_at
        FROM ledger_wallet w JOIN principal p ON p.merchant_id = w.merchant_id
        WHERE w.wallet_id = %(wallet_id)s
    )"""

BALANCE_SQL = f"""
WITH {_PRINCIPAL}
SELECT s.newest_event_at, s.caught_up_at, EXISTS (SELECT 1 FROM principal) AS authenticated,
       w.wallet_id, w.currency, w.balance, w.updated_at
FROM (VALUES (1)) AS one (x)
LEFT JOIN ledger_sync_state s ON s.id = 1
LEFT JOIN wallet w ON true
"""

# One row per transaction on the page, or one row with null transaction columns.
HISTORY_SQL = f"""
WITH {_PRINCIPAL},
    total AS (
        SELECT count(*) AS n FROM ledger_transaction t WHERE t.wallet_id = (SELECT wallet_id FROM wallet)
    ),
    page AS (
        SELECT coalesce(%(page)s::bigint, greatest(1, ceil(total.n / %(size)s::numeric))::bigint) AS no
        FROM total
    )
SELECT s.newest_event_at, s.caught_up_at, EXISTS (SELECT 1 FROM principal) AS authenticated,
       w.wallet_id AS owned_wallet_id, total.n AS total, page.no AS page_no,
       t.id, t.wallet_id, t.kind, t.amount, t.currency, t.status, t.reference, t.description,
       t.counterparty_wallet_id, t.balance_after, t.created_at
FROM (VALUES (1)) AS one (x)
CROSS JOIN total CROSS JOIN page
LEFT JOIN ledger_sync_state s ON s.id = 1
LEFT JOIN wallet w ON true
LEFT JOIN LATERAL (
    SELECT t.id, t.wallet_id, t.kind, t.amount, t.currency, t.status, t.reference, t.description,
           t.counterparty_wallet_id, t.balance_after, t.created_at
    FROM ledger_transaction t WHERE t.wallet_id = w.wallet_id
    ORDER BY t.id DESC LIMIT %(size)s OFFSET (page.no - 1) * %(size)s
) t ON true
"""


class ReadConnections:
    """One autocommit psycopg connection per server thread, reconnected once if it broke."""

    def __init__(self, conninfo: Callable[[], str]) -> None:
        self._conninfo = conninfo
        self._local = threading.local()

    def fetch(self, sql: str, params: dict[str, Any]) -> list[Any]:
        for attempt in (1, 2):
            conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
            if conn is None or conn.closed:
                conn = psycopg.connect(self._conninfo(), autocommit=True, row_factory=namedtuple_row)
                self._local.conn = conn
            try:
                return conn.execute(sql, params, prepare=True).fetchall()
            except psycopg.OperationalError:
                # a read is safe to repeat on a fresh connection (server restart, idle kill)
                conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _conninfo() -> str:
    db = settings.DATABASES["default"]
    params = {"dbname": db["NAME"], "user": db["USER"], "password": db["PASSWORD"],
              "host": db["HOST"], "port": db["PORT"], **db.get("OPTIONS", {})}
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v not in ("", None)})


connections = ReadConnections(_conninfo)


def render(data: Any) -> bytes:
    """Exactly ``rest_framework.renderers.JSONRenderer().render(data)`` with the project's settings."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()


def _response(data: Any, status: int = 200) -> HttpResponse:
    response = HttpResponse(render(data), status=status, content_type="application/json")
    response["Allow"] = _ALLOW
    return response


def _error(error: ApiError) -> HttpResponse:
    response = _response(error_body(error.error_code, error.message, error.errors), error.status_code)
    if error.status_code == 401:
        response["WWW-Authenticate"] = SCHEME
    return response


def _fast(request: HttpRequest) -> bool:
    return (request.method == "GET" and request.headers.get("Accept") in _FAST_ACCEPT
            and "format" not in request.GET)


def _key_hash(request: HttpRequest) -> tuple[str | None, ApiError | None]:
    """The key hash to look up, or the auth error decided without the database."""
    header = request.headers.get("Authorization")
    raw = parse_authorization(header) if header else None
    if raw is None:
        return None, ApiError("AUTHENTICATION_REQUIRED",
                              "Authentication required: send 'Authorization: Api-Key <key>'.", 401)
    if not raw:
        return None, invalid_key()
    return hash_api_key(raw), None


def _access_error(row: Any, anonymous: ApiError | None, owned_wallet_id: int | None,
                  wallet_id: int) -> ApiError | None:
    """In the legacy order: authentication, then the wallet's owner (foreign is a 404)."""
    if anonymous is not None:
        return anonymous
    if not row.authenticated:
        return invalid_key()
    if owned_wallet_id is None:
        return not_found(f"Wallet {wallet_id}")
    return None


def _note_lag(request: HttpRequest, row: Any) -> None:
    setattr(request, sync.REQUEST_ATTR, sync.lag_now(row.newest_event_at, row.caught_up_at))


def balance(request: HttpRequest, wallet_id: int) -> HttpResponse:
    if not _fast(request):
        return _legacy_balance(request, wallet_id=wallet_id)
    key_hash, anonymous = _key_hash(request)
    (row,) = connections.fetch(BALANCE_SQL, {"key_hash": key_hash, "wallet_id": wallet_id})
    _note_lag(request, row)
    error = _access_error(row, anonymous, row.wallet_id, wallet_id)
    if error is not None:
        return _error(error)
    # wire reads the model's attribute names only; the row carries the same names
    return _response(wire.balance(cast(LedgerWallet, row)))


def page_size(query: Any) -> int:
    """``LegacyPagination.get_page_size``: the last ``page_size`` if a positive int, capped."""
    try:
        size = int(query["page_size"])
    except (KeyError, ValueError):
        return PAGE_SIZE
    return PAGE_SIZE if size <= 0 else min(size, MAX_PAGE_SIZE)


def page_number(query: Any) -> int | None:
    """Django's ``Paginator.validate_number`` as far as it goes without the count.

    An int >= 1, ``None`` for ``last``, ``NOT_A_PAGE`` for anything else (a 404).
    """
    value = query.get("page") or 1
    if value == "last":
        return None
    try:
        number = int(value)
    except ValueError:
        return NOT_A_PAGE
    return NOT_A_PAGE if number < 1 else min(number, _MAX_PAGE)


def transactions(request: HttpRequest, wallet_id: int) -> HttpResponse:
    if not _fast(request):
        return _legacy_transactions(request, wallet_id=wallet_id)
    key_hash, anonymous = _key_hash(request)
    size, number = page_size(request.GET), page_number(request.GET)
    rows = connections.fetch(HISTORY_SQL, {"key_hash": key_hash, "wallet_id": wallet_id, "size": size,
                                           "page": 1 if number == NOT_A_PAGE else number})
    head = rows[0]
    _note_lag(request, head)
    error = _access_error(head, anonymous, head.owned_wallet_id, wallet_id)
    if error is not None:
        return _error(error)
    pages = -(-max(1, head.total) // size)
    if number == NOT_A_PAGE or head.page_no > pages:
        return _error(not_found())
    no = head.page_no
    url = request.build_absolute_uri() if pages > 1 else ""
    previous = None
    if no > 1:
        previous = remove_query_param(url, "page") if no == 2 else replace_query_param(url, "page", no - 1)
    return _response({
        "count": head.total,
        "next": replace_query_param(url, "page", no + 1) if no < pages else None,
        "previous": previous,
        "results": [wire.transaction(cast(LedgerTransaction, r)) for r in rows if r.id is not None],
    })


_legacy_balance = views.WalletBalanceView.as_view()
_legacy_transactions = views.WalletTransactionsView.as_view()
