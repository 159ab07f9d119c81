"""Errors the seeder raises.

    StranglerError (strangler.errors)
    └── SeedError        the target database cannot be seeded as asked

Every message says what was wrong, that nothing was written, and what to do.
"""

from __future__ import annotations

from strangler.errors import StranglerError


class SeedError(StranglerError):
    exit_code = 65  # EX_DATAERR
