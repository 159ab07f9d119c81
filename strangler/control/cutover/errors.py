"""Errors of the cutover plans. Each says what was wrong, what was kept, and what to do.

    ControlError (routing)
    ├── PlanRefusedError       the next transition's evidence is missing (named in the message)
    ├── ChecksPendingError     a transition's actions ran but its checks do not hold yet
    ├── PlanBusyError          another process is advancing or rolling back this capability
    ├── InvalidPlanRequestError a target behind the current state, a rollback with nothing to undo
    └── HandOverError          a write hand-over's wait ran out (the step stays open, writes held)
"""

from __future__ import annotations

from strangler.control.routing.errors import ControlError


class PlanRefusedError(ControlError):
    def __init__(self, message: str, missing: tuple[str, ...]) -> None:
        super().__init__(message)
        self.missing = missing


class ChecksPendingError(ControlError):
    exit_code = 3


class PlanBusyError(ControlError):
    http_status = 409


class InvalidPlanRequestError(ControlError):
    pass


class HandOverError(ControlError):
    """The write hand-over could not finish a step; the step stays open and resumes on advance."""

    exit_code = 3
