"""Errors of the control plane's reconciliation app.

    ReconcileError (reconcile.errors)
    └── ReconciliationServiceError    a request the service layer refuses; nothing was changed
        ├── UnknownCapabilityError     no mapping is known for the capability
        ├── NotFoundError              no run or discrepancy with that id
        └── InvalidActionError         a sign-off action that the discrepancy's state forbids,
                                       or one without a note
"""

from __future__ import annotations

from reconcile.errors import ReconcileError


class ReconciliationServiceError(ReconcileError):
    exit_code = 65


class UnknownCapabilityError(ReconciliationServiceError):
    pass


class NotFoundError(ReconciliationServiceError):
    exit_code = 66  # EX_NOINPUT


class InvalidActionError(ReconciliationServiceError):
    pass
