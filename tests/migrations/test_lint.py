"""The linter flags long-lock statements on existing tables, and only those, with the safe sequence."""

from __future__ import annotations

import pytest

from migrations.lint.collect import run_squawk
from migrations.lint.findings import Severity, classify

BIG = {"wallets_transaction": 5_000_000, "wallets_wallet": 50}


def lint_sql(sql: str) -> list[tuple[str, str, Severity]]:
    findings = classify("wallets", "0099_x", sql, run_squawk(sql), BIG, large_table_rows=100_000)
    return [(f.rule.name, f.table, f.severity) for f in findings]


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ('CREATE INDEX "txn_ref" ON "wallets_transaction" ("reference");',
         "require-concurrent-index-creation"),
        ('ALTER TABLE "wallets_transaction" ALTER COLUMN "amount" TYPE numeric(18,2);',
         "changing-column-type"),
        ('ALTER TABLE "wallets_transaction" ADD CONSTRAINT "pos" CHECK ("amount" > 0);',
         "constraint-missing-not-valid"),
        ('ALTER TABLE "wallets_transaction" RENAME COLUMN "reference" TO "ref";', "renaming-column"),
    ],
)
def test_long_lock_on_a_large_existing_table_is_an_error(sql: str, rule: str) -> None:
    assert (rule, "wallets_transaction", Severity.ERROR) in lint_sql(sql)


@pytest.mark.parametrize(
    "sql",
    [
        'CREATE INDEX CONCURRENTLY "txn_ref" ON "wallets_transaction" ("reference");',
        'ALTER TABLE "wallets_transaction" ADD CONSTRAINT "pos" CHECK ("amount" > 0) NOT VALID;',
        'ALTER TABLE "wallets_transaction" VALIDATE CONSTRAINT "pos";',
    ],
)
def test_the_safe_sequence_passes(sql: str) -> None:
    assert lint_sql(sql) == []


def test_a_table_created_in_the_same_migration_is_not_flagged() -> None:
    sql = ('CREATE TABLE "ledger_new" ("id" bigint NOT NULL PRIMARY KEY, "ref" text NOT NULL);\n'
           'CREATE INDEX "ledger_new_ref" ON "ledger_new" ("ref");\n')
    assert lint_sql(sql) == []


def test_a_small_table_is_reported_as_info_not_error() -> None:
    assert lint_sql('CREATE INDEX "w_cur" ON "wallets_wallet" ("currency");') == [
        ("require-concurrent-index-creation", "wallets_wallet", Severity.INFO)
    ]


def test_a_table_of_unknown_size_counts_as_large() -> None:
    assert lint_sql('CREATE INDEX "x_y" ON "payouts_payout" ("status");') == [
        ("require-concurrent-index-creation", "payouts_payout", Severity.ERROR)
    ]


@pytest.mark.django_db
def test_the_monolith_migrations_as_they_stand_are_clean() -> None:
    from migrations.lint.collect import lint

    assert [f.as_dict() for f in lint() if f.severity is Severity.ERROR] == []
