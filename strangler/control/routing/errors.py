"""Errors of the control plane's routing service, in one place.

Hierarchy::

    ControlError (StranglerError)      a requested change was refused; nothing was changed
    ├── InvalidRequestError            a value is malformed: unknown mode, bad percentage, no reason
    ├── UnknownCapabilityError         no capability by that name (the message lists the known ones)
    ├── GateRefusedError               the capability's gate does not hold (carries the GateResult)
    ├── TableRejectedError             the resulting route table is invalid (e.g. two rules overlap)
    ├── PermissionDeniedError          the caller's token lacks the permission for this action
    └── AppendOnlyError                an attempt to change or delete an audit entry
    PropagationError (StranglerError)  a version was published but some live proxy did not apply it

Every message says what was wrong, what was kept, and what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from strangler.errors import StranglerError

if TYPE_CHECKING:
    from strangler.control.routing.gates import GateResult


class ControlError(StranglerError):
    exit_code = 2
    http_status = 400


class InvalidRequestError(ControlError):
    pass


class UnknownCapabilityError(ControlError):
    http_status = 404

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        shown = ", ".join(known[:20]) + (" …" if len(known) > 20 else "")
        super().__init__(
            f"unknown capability {name!r}; nothing was changed. Known capabilities: "
            f"{shown or '(none: run `strangler routes import-urlconf` first)'}"
        )


class GateRefusedError(ControlError):
    http_status = 409

    def __init__(self, message: str, gate: GateResult) -> None:
        self.gate = gate
        super().__init__(message)


class TableRejectedError(ControlError):
    http_status = 409


class PermissionDeniedError(ControlError):
    http_status = 403


class AppendOnlyError(ControlError):
    http_status = 405


class PropagationError(StranglerError):
    exit_code = 3

    def __init__(self, version: int, lagging: list[str]) -> None:
        self.version = version
        self.lagging = lagging
        super().__init__(
            f"version {version} is published, but these live proxy instances did not apply it in "
            f"time: {', '.join(lagging)}. The change stays published; check those instances "
            "(`strangler routes status`), or roll back with `strangler rollback CAPABILITY`."
        )
