"""``strangler lint-migrations``: find Django migrations that would take long locks on big tables.

Built on squawk (a maintained PostgreSQL migration linter): Django renders each
migration's SQL with ``sqlmigrate``; squawk finds the dangerous statements; we map
them back to the migration, drop what cannot hurt (tables created in the same
migration, tables below a size threshold) and say which expand/contract sequence
to use instead.
"""

from migrations.lint.findings import Finding, Severity
from migrations.lint.rules import RULES, Rule

__all__ = ["RULES", "Finding", "Rule", "Severity"]
