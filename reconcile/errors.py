"""Errors the reconciliation package raises.

    ReconcileError                 anything reconcile reports to its caller
    ├── MappingError               a mapping file is malformed or does not fit the databases;
    │                              names the file, the line and the fix; refused before any run
    └── SideUnavailableError       one side could not be read (connection, permissions, missing
                                   table); the run that meets it ends ``incomplete``

Every message says what was wrong, what was kept, and what to do.
"""

from __future__ import annotations

from strangler.errors import StranglerError


class ReconcileError(StranglerError):
    pass


class MappingError(ReconcileError):
    exit_code = 65  # EX_DATAERR

    def __init__(self, source: str, line: int | None, problem: str, fix: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        self.fix = fix
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {problem}. Fix: {fix}. Nothing was run.")


class SideUnavailableError(ReconcileError):
    exit_code = 69  # EX_UNAVAILABLE

    def __init__(self, side: str, reason: str) -> None:
        self.side = side
        self.reason = reason
        super().__init__(f"the {side} database could not be read: {reason}")
