"""Every error the shadow package raises, in one place.

Hierarchy::

    ShadowError (StranglerError)
    ├── RulesFileError      a diff rules file is unreadable or invalid (file, line, fix); nothing loaded
    ├── CorpusError         a replay corpus (JSONL) line is invalid (file, line, fix); nothing replayed
    └── ShadowStoreError    the observation store refused a read or write

User-facing messages say what was wrong, what was kept, and what to do.
"""

from __future__ import annotations

from strangler.errors import StranglerError


class ShadowError(StranglerError):
    """Base of every shadow error."""


class _FileLineError(ShadowError):
    exit_code = 65  # EX_DATAERR: the input file is wrong, not the tool

    def __init__(self, path: str, problem: str, fix: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        self.fix = fix
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}. Fix: {fix}")


class RulesFileError(_FileLineError):
    """A declarative diff rules file is invalid; the rules that were in force stay in force."""


class CorpusError(_FileLineError):
    """A recorded-traffic corpus is invalid; nothing was replayed."""


class ShadowStoreError(ShadowError):
    exit_code = 69  # EX_UNAVAILABLE
