"""The rules we enforce, keyed by squawk's rule names, with the safe sequence to use instead."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    name: str
    title: str
    blocks: str  # what a long lock blocks while the statement runs
    instead: str  # the expand/contract sequence to use


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule(
            "require-concurrent-index-creation",
            "index created without CONCURRENTLY",
            "writes (SHARE lock) for the whole index build",
            "Use django.contrib.postgres.operations.AddIndexConcurrently in a migration with "
            "atomic = False (CREATE INDEX CONCURRENTLY); writes continue while it builds.",
        ),
        Rule(
            "changing-column-type",
            "column type changed in place",
            "reads and writes (ACCESS EXCLUSIVE) while the table is rewritten",
            "Expand/contract: add a new column of the new type; write both (trigger or code); "
            "backfill in batches; switch reads; stop writing the old one; drop it in a later release.",
        ),
        Rule(
            "constraint-missing-not-valid",
            "constraint added and validated in one step",
            "writes while every existing row is checked",
            "Add the constraint NOT VALID (instant), then VALIDATE CONSTRAINT in a separate "
            "migration: validation takes a lock that does not block writes.",
        ),
        Rule(
            "adding-foreign-key-constraint",
            "foreign key added and validated in one step",
            "writes on both tables while every existing row is checked",
            "Add the foreign key NOT VALID, then VALIDATE CONSTRAINT in a separate migration.",
        ),
        Rule(
            "renaming-column",
            "column renamed while running code still reads the old name",
            "nothing for long, but every running process that reads the old name fails at once",
            "Expand/contract: add the new column; write both; backfill; deploy code reading the "
            "new name; stop writing the old; drop it once no running code reads it.",
        ),
        Rule(
            "renaming-table",
            "table renamed while running code still uses the old name",
            "every running process that uses the old name fails at once",
            "Create the new table (or a view under the old name), dual-write, switch, then drop.",
        ),
        Rule(
            "adding-not-nullable-field",
            "NOT NULL added to an existing column",
            "reads and writes while every row is scanned",
            "Add a CHECK (col IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (PostgreSQL "
            "uses the validated check and skips the scan).",
        ),
        Rule(
            "disallowed-unique-constraint",
            "unique constraint built with a blocking index",
            "writes for the whole index build",
            "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... UNIQUE USING INDEX.",
        ),
        Rule(
            "adding-field-with-default",
            "column added with a volatile default (table rewrite)",
            "reads and writes while the table is rewritten",
            "Add the column without a default, set the default, then backfill in batches.",
        ),
    )
}
