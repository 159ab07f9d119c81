"""Errors of the notification service.

NotificationsError            base; says what was wrong, what was kept, what to do
├── UnsupportedEvent          an event this service cannot handle (bad data, unknown version)
│                             -> the consumer retries, then dead-letters it; nothing is recorded
├── TemplateError             the template catalogue is broken (missing kind in the fallback
│                             locale, unknown placeholder, bad file): raised at start/check time
├── ConfigError               a STRANGLER_NOTIFICATIONS_* variable is invalid
└── DeliveryFailed            one send attempt failed (raised by a channel adapter); ``retry``
                              says whether sending again is safe and useful
"""

from __future__ import annotations


class NotificationsError(Exception):
    """Base of every error this service raises."""


class UnsupportedEvent(NotificationsError):
    def __init__(self, event_type: str, reason: str) -> None:
        super().__init__(
            f"{event_type}: {reason}. No notification was recorded; the event goes to the "
            "dead-letter topic after the consumer's retries. Fix the producer, then replay it."
        )
        self.event_type, self.reason = event_type, reason


class TemplateError(NotificationsError):
    pass


class ConfigError(NotificationsError):
    pass


class DeliveryFailed(NotificationsError):
    """A send attempt that did not deliver.

    ``retry``: nothing was handed over (refused, timed out before the message, a 4xx), so a
    later attempt cannot double-send. ``uncertain``: the message went out but its acceptance
    was never confirmed; it is NOT sent again (at most once at this boundary).
    """

    def __init__(self, reason: str, *, retry: bool, uncertain: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.retry, self.uncertain = reason, retry, uncertain
