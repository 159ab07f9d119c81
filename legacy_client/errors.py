"""Errors the legacy client raises (expectation failures are recorded, not raised).

    StranglerError (strangler.errors)
    └── LegacyClientError
        ├── ServerUnreachableError   the target did not answer at all; the run stops
        └── LoadConfigError          a load run that would be unbounded or leave loopback
"""

from __future__ import annotations

from strangler.errors import StranglerError


class LegacyClientError(StranglerError):
    pass


class ServerUnreachableError(LegacyClientError):
    exit_code = 69  # EX_UNAVAILABLE


class LoadConfigError(LegacyClientError):
    exit_code = 64  # EX_USAGE
