"""Errors raised by the anti-corruption layer.

AclError                       base; every message says what was wrong, what was kept, what to do
├── InstallError               the capture schema/triggers could not be installed
├── TranslationError           a legacy row the translator cannot understand (-> quarantine)
├── ContractError              a contract file is missing or is not a valid JSON Schema
│   └── ContractViolation      an event does not satisfy its contract (-> quarantine)
├── IncompatibleContractChange a schema change would break existing consumers
├── PublishError               the broker did not acknowledge a message
└── ConsumerError              the consumer library was misconfigured or lost its broker
"""

from __future__ import annotations


class AclError(Exception):
    """Base of every error this package raises."""


class InstallError(AclError):
    pass


class TranslationError(AclError):
    """The row images cannot be turned into events; ``reason`` is stored in quarantine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ContractError(AclError):
    pass


class ContractViolation(ContractError):
    def __init__(self, event_type: str, reason: str) -> None:
        super().__init__(f"{event_type}: {reason}")
        self.event_type = event_type
        self.reason = reason


class IncompatibleContractChange(AclError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(
            "contract changes would break existing consumers:\n  - "
            + "\n  - ".join(problems)
            + "\nNothing was changed. Restore the field/type, or add a new version file (…v2.json)."
        )
        self.problems = problems


class PublishError(AclError):
    pass


class ConsumerError(AclError):
    pass
