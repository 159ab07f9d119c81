"""Mapping parsing and checking: the shipped mapping is valid; broken ones are refused
before any run with the file, the line and the fix."""

from __future__ import annotations

import pytest

from reconcile.check import ColumnInfo, TableInfo, check_mapping
from reconcile.errors import MappingError
from reconcile.mapping import load_mapping, parse_mapping
from reconcile.mappings import LEDGER


def _cols(*specs: tuple[str, str]) -> dict[str, ColumnInfo]:
    return {name: ColumnInfo(name, type_name) for name, type_name in specs}


def legacy_catalog() -> dict[str, TableInfo]:
    txn = _cols(("id", "bigint"), ("wallet_id", "bigint"), ("txn_type", "smallint"),
                ("amount", "bigint"), ("balance_after", "bigint"), ("status", "smallint"),
                ("reference", "character varying(64)"), ("description", "character varying(255)"),
                ("related_wallet_id", "bigint"), ("created_at", "timestamp with time zone"))
    wallet = _cols(("id", "bigint"), ("currency", "character varying(3)"), ("balance", "bigint"))
    return {"wallets_transaction": TableInfo("wallets_transaction", txn, (frozenset({"id"}),)),
            "wallets_wallet": TableInfo("wallets_wallet", wallet, (frozenset({"id"}),))}


def extracted_catalog() -> dict[str, TableInfo]:
    txn = _cols(("id", "bigint"), ("wallet_id", "bigint"), ("kind", "text"),
                ("amount", "numeric(18,2)"), ("currency", "character(3)"), ("status", "text"),
                ("reference", "text"), ("description", "text"), ("counterparty_wallet_id", "bigint"),
                ("balance_after", "numeric(18,2)"), ("created_at", "timestamp with time zone"))
    txn["amount"] = ColumnInfo("amount", "numeric(18,2)", False, 2)
    entry = _cols(("id", "bigint"), ("transaction_id", "bigint"), ("leg", "text"), ("account", "text"),
                  ("amount", "numeric(18,2)"), ("currency", "character(3)"),
                  ("created_at", "timestamp with time zone"))
    return {"ledger_transaction": TableInfo("ledger_transaction", txn),
            "ledger_entry": TableInfo("ledger_entry", entry)}


def ledger_text() -> str:
    return LEDGER.read_text()


def refused(text: str, legacy: dict[str, TableInfo] | None = None,
            extracted: dict[str, TableInfo] | None = None) -> MappingError:
    with pytest.raises(MappingError) as caught:
        mapping = parse_mapping(text, "ledger.toml")
        check_mapping(mapping, legacy or legacy_catalog(), extracted or extracted_catalog())
    return caught.value


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_ledger_mapping_checks_against_both_catalogues() -> None:
    checked = check_mapping(load_mapping(LEDGER), legacy_catalog(), extracted_catalog())
    assert [c.comparison.name for c in checked] == ["transactions", "entries"]
    assert checked[0].kinds["amount"].kind == "decimal" and checked[0].kinds["amount"].scale == 2
    assert checked[1].key_kinds == ("int", "text")


def test_version_hash_ignores_comments_but_not_content() -> None:
    text = ledger_text()
    base = parse_mapping(text).version_hash
    assert parse_mapping("# a new comment\n" + text).version_hash == base
    assert parse_mapping(text.replace('"posted"', '"POSTED"')).version_hash != base


def test_unknown_column_names_the_file_the_line_and_the_choices() -> None:
    text = ledger_text().replace('extracted = "x.reference"', 'extracted = "x.referense"')
    error = refused(text)
    assert error.source == "ledger.toml"
    assert error.line == line_of(text, '"x.referense"')
    assert "referense" in error.problem and "reference" in error.fix


def test_unknown_table_is_refused() -> None:
    text = ledger_text().replace('table = "ledger_entry"', 'table = "ledger_entries"')
    error = refused(text)
    assert "ledger_entries" in error.problem
    assert error.line == line_of(text, 'table = "ledger_entries"') - 1  # its side's header


def test_column_types_that_cannot_be_compared_are_refused() -> None:
    text = ledger_text().replace('legacy = { column = "t.txn_type", codes = "txn_kind" }',
                                 'legacy = "t.txn_type"')
    error = refused(text)
    assert "cannot be compared" in error.problem
    assert error.line == line_of(text, 'legacy = "t.txn_type"')


def test_nullable_key_is_refused_as_ambiguous() -> None:
    extracted = extracted_catalog()
    columns = dict(extracted["ledger_transaction"].columns)
    columns["id"] = ColumnInfo("id", "bigint", nullable=True)
    extracted["ledger_transaction"] = TableInfo("ledger_transaction", columns)
    error = refused(ledger_text(), extracted=extracted)
    assert "ambiguous" in error.problem and "NOT NULL" in error.fix


def test_join_not_on_a_unique_key_is_refused_as_ambiguous() -> None:
    legacy = legacy_catalog()
    legacy["wallets_wallet"] = TableInfo("wallets_wallet", legacy["wallets_wallet"].columns, ())
    error = refused(ledger_text(), legacy=legacy)
    assert "repeat rows" in error.problem
    assert error.line == line_of(ledger_text(), "joins =")


def test_fan_out_without_leg_in_key_is_refused() -> None:
    text = ledger_text().replace('legacy = "leg.name"', 'legacy = "t.reference"')
    assert "leg.name is not in the key" in refused(text).problem


def test_column_neither_compared_nor_ignored_is_refused() -> None:
    text = ledger_text().replace('"t.balance_after", "t.description", "t.related_wallet_id"]',
                                 '"t.description", "t.related_wallet_id"]', 1)
    error = refused(text)
    assert "balance_after" in error.problem and "ignore" in error.fix


@pytest.mark.parametrize(("old", "new", "needle"), [
    ('codes = "txn_kind" }', 'codes = "txn_kinds" }', "unknown code map"),
    ('unit = "paise"', 'unit = "cents"', "unknown unit"),
    ('tolerance = "0"', 'tolerance = "-1"', "negative"),
    ('extracted = "x.wallet_id"', 'extracted = "wallet_id"', "not a column reference"),
    ('empty_as_null = true', 'empty_as_null = "yes"', "must be true or false"),
    ('legacy = { column = "t.reference", empty_as_null = true }',
     'legacy = { column = "t.amount", empty_as_null = true }', "needs a plain text column"),
])
def test_malformed_declarations_are_refused_with_their_line(old: str, new: str,
                                                            needle: str) -> None:
    text = ledger_text().replace(old, new, 1)
    error = refused(text)
    assert needle in error.problem
    assert error.line == line_of(text, new)


def test_toml_syntax_error_reports_its_line() -> None:
    text = ledger_text().replace('name = "amount"', 'name = "amount', 1)
    error = refused(text)
    assert error.line == line_of(text, 'name = "amount')
    assert "Nothing was run" in str(error)
