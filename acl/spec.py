"""Which legacy tables are captured, and which aggregate each row belongs to.

One declaration drives both the SQL triggers (install.py) and the relay's
ordering lanes, so the capture side and the translator side agree on what an
aggregate is. Pure data; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CapturedTable:
    table: str
    aggregate_type: str
    # column of the row (before or after image) holding the aggregate's id
    aggregate_column: str
    # extra facts the trigger looks up in the same transaction because the row alone
    # cannot be translated (a ledger row has no currency; its wallet has)
    enrich_wallet_currency: bool = False
    # the wallet's updated_at as the monolith just wrote it: the legacy balance endpoint shows it,
    # and it differs from the ledger row's created_at (the wallet is saved first). Needs the
    # wallet row, so it implies the same lookup as the currency.
    enrich_wallet_updated_at: bool = False

    def enrichment(self) -> str:
        """The trigger's argument naming the facts to look up ('' for none)."""
        facts = [name for name, wanted in (("wallet_currency", self.enrich_wallet_currency),
                                            ("wallet_updated_at", self.enrich_wallet_updated_at))
                 if wanted]
        return ",".join(facts)


CAPTURED_TABLES: tuple[CapturedTable, ...] = (
    # merchants and their API keys are one aggregate: a key's events share the merchant's lane
    # and topic key, so "key issued" can never overtake "merchant deactivated" or vice versa
    CapturedTable("accounts_merchant", "merchant", "id"),
    CapturedTable("accounts_apikey", "merchant", "merchant_id"),
    CapturedTable("accounts_user", "customer", "id"),
    CapturedTable("accounts_kycsubmission", "customer", "user_id"),
    CapturedTable("wallets_wallet", "wallet", "id"),
    CapturedTable(
        "wallets_transaction",
        "wallet",
        "wallet_id",
        enrich_wallet_currency=True,
        enrich_wallet_updated_at=True,
    ),
    CapturedTable("payouts_payout", "payout", "id", enrich_wallet_currency=True),
)

# Ordering lanes: every aggregate hashes to one lane; a relay instance owns a lane
# while it publishes from it. Changing this while rows are unpublished would let two
# relays share an aggregate, so it is fixed at install time.
LANES = 64


def table_spec(table: str) -> CapturedTable | None:
    for spec in CAPTURED_TABLES:
        if spec.table == table:
            return spec
    return None
