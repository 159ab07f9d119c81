"""Errors of the migration linter.

    StranglerError
    └── LintError     the linter itself could not run (not: a migration was found unsafe)
"""

from strangler.errors import StranglerError


class LintError(StranglerError):
    exit_code = 2
