"""The ledger read model's tables (Django app ``ledger_query``), owned by the ledger query service."""
