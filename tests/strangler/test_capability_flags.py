"""capability_flags reads the control plane's own tables: flips, kill switches, canaries, outages."""

from __future__ import annotations

import pytest

from strangler.capability_flags import CapabilityFlags, FlagUnavailable
from strangler.control.routing import services
from strangler.stack.net import free_port
from tests.control.conftest import control_url

pytestmark = pytest.mark.django_db(databases=["control"], transaction=True)


def test_the_mode_follows_flips_and_kill_switches() -> None:
    flags = CapabilityFlags(control_url(), ttl=0)
    assert flags.mode_of("webhooks.delivery") == "monolith"  # not declared: the legacy path
    services.declare_capability("webhooks.delivery", reason="test", actor="tester")
    assert flags.mode_of("webhooks.delivery") == "monolith"
    services.flip("webhooks.delivery", "shadow", reason="test", actor="tester")
    assert flags.mode_of("webhooks.delivery") == "shadow"
    services.flip("webhooks.delivery", "extracted", force=True, reason="test", actor="tester")
    assert flags.mode_of("webhooks.delivery", "merchant-1") == "extracted"
    services.set_kill_switch("webhooks.delivery", True, reason="test", actor="tester")
    assert flags.mode_of("webhooks.delivery") == "monolith"
    services.set_kill_switch("webhooks.delivery", False, reason="test", actor="tester")
    services.set_kill_switch(None, True, reason="test", actor="tester")  # the global switch too
    assert flags.mode_of("webhooks.delivery") == "monolith"


def test_a_cached_answer_is_kept_through_an_outage_and_none_is_never_invented() -> None:
    services.declare_capability("notifications.email", reason="test", actor="tester")
    services.flip("notifications.email", "shadow", reason="test", actor="tester")
    flags = CapabilityFlags(control_url(), ttl=0)
    assert flags.mode_of("notifications.email") == "shadow"
    # the control plane goes away
    flags._url = f"postgresql://nobody@127.0.0.1:{free_port()}/strangler_control"
    assert flags.mode_of("notifications.email") == "shadow"  # the last answer, as the proxy keeps its table
    with pytest.raises(FlagUnavailable, match="STRANGLER_CONTROL_DATABASE_URL"):
        flags.mode_of("webhooks.delivery")  # never read: no answer to keep


def test_a_failed_read_is_not_retried_within_the_ttl() -> None:
    """Every payout would otherwise wait for its own connect timeout while the control plane is down."""
    flags = CapabilityFlags(f"postgresql://nobody@127.0.0.1:{free_port()}/strangler_control", ttl=60)
    with pytest.raises(FlagUnavailable):
        flags.mode_of("ledger.write")
    flags._url = control_url()  # it is back, but the failure is remembered for the ttl
    with pytest.raises(FlagUnavailable):
        flags.mode_of("ledger.write")
    flags._failed = None  # the ttl has passed
    assert flags.mode_of("ledger.write") == "monolith"


def test_the_last_answer_is_kept_through_an_outage_only_up_to_max_stale() -> None:
    services.declare_capability("notifications.email", reason="test", actor="tester")
    flags = CapabilityFlags(control_url(), ttl=0, max_stale=60)
    assert flags.mode_of("notifications.email") == "monolith"
    flags._url = f"postgresql://nobody@127.0.0.1:{free_port()}/strangler_control"
    assert flags.mode_of("notifications.email") == "monolith"
    flags._max_stale = 0  # the answer is now older than the bound: never act on it
    with pytest.raises(FlagUnavailable):
        flags.mode_of("notifications.email")
