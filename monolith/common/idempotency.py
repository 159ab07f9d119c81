"""Idempotency-Key handling: run a write once per (merchant, key), replay it byte for byte after.

How it stays right under concurrency: the record is inserted with
``INSERT ... ON CONFLICT DO NOTHING`` *inside the same database transaction as the
write*. A concurrent request with the same key blocks on that insert until the
first transaction ends; if it committed, the second sees the stored response and
replays it; if it rolled back (a 4xx, which is never stored), the second inserts
and runs the write itself.

:func:`request_fingerprint` and :func:`canonical_json` are pure; :func:`execute_once`
is the PostgreSQL adapter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from monolith.common.errors import ApiError

MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes


def _tag_decimals(value: Any) -> Any:
    # Keep the JSON number 100.5 distinct from the string "100.5" in the fingerprint.
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dict):
        return {k: _tag_decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tag_decimals(v) for v in value]
    return value


def canonical_json(body: Any) -> str:
    """Key order and whitespace do not make two bodies different."""
    return json.dumps(_tag_decimals(body), sort_keys=True, separators=(",", ":"))


def request_fingerprint(method: str, path: str, body: Any) -> str:
    text = f"{method.upper()}\n{path}\n{canonical_json(body)}"
    return hashlib.sha256(text.encode()).hexdigest()


def validate_key(key: str | None, *, required: bool) -> str | None:
    """The usable key from the header value, ``None`` when absent and optional."""
    if key is None or key == "":
        if required:
            raise ApiError(
                "IDEMPOTENCY_KEY_REQUIRED",
                "This endpoint requires an 'Idempotency-Key' header (1-255 characters).", 400,
            )
        return None
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(
            "VALIDATION_ERROR", "The request is invalid; see errors.", 400,
            {"Idempotency-Key": [f"Must be at most {MAX_KEY_LENGTH} characters."]},
        )
    return key


def key_reused() -> ApiError:
    return ApiError(
        "IDEMPOTENCY_KEY_REUSED",
        "This Idempotency-Key was already used with a different request; use a new key.", 422,
    )


_CLAIM_SQL = """
    INSERT INTO wallets_idempotencyrecord (merchant_id, key, request_hash, created_at)
    VALUES (%s, %s, %s, now())
    ON CONFLICT (merchant_id, key) DO NOTHING
    RETURNING id
"""
_STORED_SQL = """
    SELECT request_hash, response_status, response_body
    FROM wallets_idempotencyrecord WHERE merchant_id = %s AND key = %s
"""
_SAVE_SQL = """
    UPDATE wallets_idempotencyrecord SET response_status = %s, response_body = %s WHERE id = %s
"""


def execute_once(
    merchant_id: int, key: str, fingerprint: str, produce: Callable[[], StoredResponse]
) -> StoredResponse:
    """Run ``produce`` at most once for (merchant, key) and return what it returned then.

    ``produce`` runs inside this function's transaction; an exception from it rolls
    back its writes and the claim together, so nothing is stored for a failure.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_SQL, [merchant_id, key, fingerprint])
        claimed = cursor.fetchone()
        if claimed is None:
            cursor.execute(_STORED_SQL, [merchant_id, key])
            stored_hash, status, body = cursor.fetchone()
            if stored_hash != fingerprint:
                raise key_reused()
            if status is None:  # cannot happen: claim and response commit together
                raise ApiError("INTERNAL_ERROR", "Idempotency record has no response.", 500)
            return StoredResponse(int(status), bytes(body))
        response = produce()
        cursor.execute(_SAVE_SQL, [response.status, response.body, claimed[0]])
        return response
