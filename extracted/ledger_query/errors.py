"""Errors of the ledger query service.

LedgerError                  base; says what was wrong, what was kept, what to do
└── UnsupportedEvent         an event this service cannot apply (unknown type or version, bad data)
                             -> the consumer dead-letters it with this message; nothing is written
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error this service raises."""


class UnsupportedEvent(LedgerError):
    def __init__(self, event_type: str, reason: str) -> None:
        super().__init__(
            f"{event_type}: {reason}. Nothing was written to the ledger; the event goes to the "
            "dead-letter topic. Fix the producer or teach extracted.ledger_query.domain this event, "
            "then replay it from the dead-letter topic."
        )
        self.event_type = event_type
        self.reason = reason
