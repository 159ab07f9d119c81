"""Data and schema migration tooling: the migration linter (backfill and runbook come later)."""
