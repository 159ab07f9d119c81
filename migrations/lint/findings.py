"""Pure: turn squawk's findings on one migration's SQL into our findings, minus harmless ones."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from migrations.lint.rules import RULES, Rule

_CREATE_TABLE = re.compile(r'CREATE TABLE\s+(?:IF NOT EXISTS\s+)?"?([\w.]+)"?', re.IGNORECASE)
_TABLE_OF = re.compile(r'(?:ALTER TABLE|\bON)\s+(?:ONLY\s+)?"?([\w.]+)"?', re.IGNORECASE)


class Severity(StrEnum):
    ERROR = "error"  # a long lock on a table at or above the size threshold (or of unknown size)
    INFO = "info"  # the same statement on a small table: fine today, dangerous once it grows


@dataclass(frozen=True)
class Finding:
    app: str
    migration: str
    rule: Rule
    table: str
    statement: str
    severity: Severity
    rows: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "migration": f"{self.app}.{self.migration}", "rule": self.rule.name,
            "title": self.rule.title, "table": self.table, "rows": self.rows,
            "severity": self.severity.value, "blocks": self.rule.blocks,
            "instead": self.rule.instead, "statement": self.statement,
        }


def statements_by_line(sql: str) -> dict[int, str]:
    """Map each 0-based line number to the full statement it belongs to."""
    result: dict[int, str] = {}
    current: list[int] = []
    buffer: list[str] = []
    for number, line in enumerate(sql.splitlines()):
        if line.startswith("--") or not line.strip():
            continue
        current.append(number)
        buffer.append(line)
        if line.rstrip().endswith(";"):
            text = " ".join(buffer)
            for n in current:
                result[n] = text
            current, buffer = [], []
    return result


def created_tables(sql: str) -> set[str]:
    return {m.group(1) for m in _CREATE_TABLE.finditer(sql)}


def classify(
    app: str,
    migration: str,
    sql: str,
    squawk_findings: Iterable[Mapping[str, Any]],
    table_rows: Mapping[str, int],
    large_table_rows: int,
) -> list[Finding]:
    """Keep the findings that matter: our rules, on tables that existed before this migration."""
    statements = statements_by_line(sql)
    new_tables = created_tables(sql)
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for raw in squawk_findings:
        rule = RULES.get(str(raw.get("rule_name")))
        if rule is None:
            continue
        statement = statements.get(int(raw.get("line", -1)), "")
        match = _TABLE_OF.search(statement)
        table = match.group(1) if match else "?"
        if table in new_tables or (rule.name, statement) in seen:
            continue  # a table created in this same migration is empty: nothing to block
        seen.add((rule.name, statement))
        rows = table_rows.get(table)
        small = rows is not None and rows < large_table_rows
        findings.append(Finding(app, migration, rule, table, statement.strip(),
                                Severity.INFO if small else Severity.ERROR, rows))
    return findings
