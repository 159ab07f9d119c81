"""Errors of the webhook delivery service.

WebhooksError                 base; says what was wrong, what was kept, what to do
├── UnsupportedEvent          an event this service cannot route (unknown type, bad data, owner unknown)
│                             -> the consumer retries, then dead-letters it; no delivery is created
├── TargetRefused             the endpoint's address is private/loopback/link-local/... and not allowlisted
├── InvalidSignature          a receiver-side verification failure (signing.verify)
├── ConfigError               a STRANGLER_WEBHOOKS_* variable is invalid
└── DecisionUnavailable       who delivers an occurrence (monolith or service) cannot be read or
                              recorded: the control plane is unreachable -> nothing is sent; retried
"""

from __future__ import annotations


class WebhooksError(Exception):
    """Base of every error this service raises."""


class UnsupportedEvent(WebhooksError):
    def __init__(self, event_type: str, reason: str) -> None:
        super().__init__(
            f"{event_type}: {reason}. No webhook delivery was created; the event goes to the "
            "dead-letter topic after the consumer's retries. Fix the producer (or publish the "
            "owning wallet/customer event first), then replay it from the dead-letter topic."
        )
        self.event_type, self.reason = event_type, reason


class TargetRefused(WebhooksError):
    def __init__(self, host: str, address: str, reason: str) -> None:
        super().__init__(
            f"refused to deliver to {host} ({address}): it is a {reason} address. Nothing was sent. "
            "Use a publicly routable endpoint, or allowlist the network with "
            "STRANGLER_WEBHOOKS_ALLOWED_NETWORKS (e.g. 127.0.0.0/8 for local testing)."
        )
        self.host, self.address, self.reason = host, address, reason


class InvalidSignature(WebhooksError):
    """The signature header is missing, malformed, stale or does not match the body."""


class ConfigError(WebhooksError):
    pass


class DecisionUnavailable(WebhooksError):
    def __init__(self, detail: str) -> None:
        super().__init__(
            f"{detail}. Nothing was sent for these deliveries; they stay pending and are retried. "
            "Check STRANGLER_CONTROL_DATABASE_URL and that the control plane is up."
        )
