"""The service token of the monolith's ledger port (standard library only: both sides import it).

The monolith (``monolith.wallets.ledger_port``) sends ``Authorization: Service <token>``;
the ledger (``extracted.ledger_query.port_api``) checks it. The token is an HMAC of the
``STRANGLER_SECRET_KEY`` the two processes share, so there is no second secret to deploy.
"""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "Service"


def service_token(secret_key: str) -> str:
    return hmac.new(secret_key.encode(), b"strangler ledger port v1", hashlib.sha256).hexdigest()


def is_service_token(sent: str, secret_key: str) -> bool:
    # bytes: compare_digest refuses non-ASCII str with a TypeError (a 500, not a 401)
    return hmac.compare_digest(sent.strip().encode("utf-8", "surrogateescape"),
                               service_token(secret_key).encode())
