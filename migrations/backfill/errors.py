"""Errors of the backfill. Each says what was wrong, what was kept and what to do.

    BackfillError
     ├── SyncNotEnabledError   capture is not installed on the monolith: a backfill would leave a gap
     └── UntranslatableRowError a legacy row the ACL translators refuse
"""

from __future__ import annotations

from strangler.errors import StranglerError


class BackfillError(StranglerError):
    exit_code = 2


class SyncNotEnabledError(BackfillError):
    def __init__(self) -> None:
        super().__init__(
            "capture is not installed on the monolith's database (schema strangler_acl is missing), "
            "so writes made during the backfill would never reach the extracted service. Nothing was "
            "copied. Enable it first: `strangler acl install` (or `strangler migrate advance`, "
            "whose first action does it).")


class UntranslatableRowError(BackfillError):
    def __init__(self, table: str, row_id: object, reason: str, last_done: int) -> None:
        super().__init__(
            f"{table} row {row_id} cannot be translated: {reason}. Rows up to id {last_done} are "
            "copied and checkpointed; fix or quarantine the row, then run the backfill again to "
            "resume.")
