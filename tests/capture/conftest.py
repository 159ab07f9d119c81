"""Fixtures of the capture suite: the mitmproxy runtime (its virtualenv is created on first use)."""

from __future__ import annotations

import pytest

from routing_proxy.capture.runtime import Runtime, ensure


@pytest.fixture(scope="session")
def mitm() -> Runtime:
    """mitmproxy, in this environment or its own virtualenv (installed from the index the first time)."""
    return ensure(print)
