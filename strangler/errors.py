"""Errors the toolkit raises to its users.

    StranglerError            anything the CLI prints as a clean message and exit code
    ├── ConfigError           an environment variable is missing or invalid
    └── StackError            a process of the local stack could not start or stay up
        └── PortInUseError    a port the stack needs is taken by another process

Every message says what was wrong, what was kept, and what to do.
"""


class StranglerError(Exception):
    exit_code = 1


class ConfigError(StranglerError):
    exit_code = 78  # EX_CONFIG


class StackError(StranglerError):
    exit_code = 69  # EX_UNAVAILABLE


class PortInUseError(StackError):
    pass
