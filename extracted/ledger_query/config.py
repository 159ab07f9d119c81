"""Where the ledger database is: ``STRANGLER_LEDGER_DATABASE_URL`` or the embedded default."""

from __future__ import annotations

from strangler.config import get_settings


def ledger_database_url() -> str:
    return get_settings().ledger_database_url
