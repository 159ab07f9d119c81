"""Moves ``ledger.write`` through its plan with the live actions, in a process of its own.

``python -m tests.cutover.write_cutover_driver shadow|extracted|rollback [--no-hold]``, with the
rig's ``STRANGLER_*`` environment (control plane settings). The evidence is not under test
here: every source answers ok (the gates have tests of their own). What runs is real: the
flips through the control plane, the proxies' propagation, the hold in the ledger's
database, the id hand-over, the drain of the monolith's outbox into the ledger and the
Idempotency-Key copy. ``--no-hold`` skips the hold, the drain and the release: the cutover
as it would be without the hand-over (the end-to-end test must then fail).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

from migrations.plan import Action


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strangler.control.settings")
    import django

    django.setup()
    from strangler.control.cutover import evidence as plan_evidence
    from strangler.control.cutover import services
    from strangler.control.cutover.actions import LiveActions
    from strangler.control.cutover.models import Plan
    from strangler.control.routing import evidence as gate_evidence
    from strangler.control.routing.gates import Evidence, Verdict

    parser = argparse.ArgumentParser()
    parser.add_argument("to", choices=["shadow", "extracted", "rollback"])
    parser.add_argument("--no-hold", action="store_true")
    args = parser.parse_args()

    def ok(name: str) -> Callable[[object], Evidence]:
        return lambda _subject: Evidence(name, Verdict.OK, "test rig")

    for name in ("capability", "capture", "backfill", "sync_lag", "routing", "legacy_traffic",
                 "side_effects"):
        plan_evidence.register_provider(name, ok(name))
    for name in ("shadow", "reconciliation"):
        gate_evidence.register_provider(name, ok(name))

    class Actions(LiveActions):
        def enable_sync(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
            pass  # the rig installed capture before seeding

        def backfill(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
            pass  # the rig's history reached the ledger through the live stream

        def hold(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
            if not args.no_hold:
                super().hold(action, plan, actor=actor, reason=reason)

        def drain_monolith(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
            if not args.no_hold:
                super().drain_monolith(action, plan, actor=actor, reason=reason)

        def release(self, action: Action, plan: Plan, *, actor: str, reason: str) -> None:
            if not args.no_hold:
                super().release(action, plan, actor=actor, reason=reason)

    began = time.monotonic()
    actions = Actions(hold_wait_ms=20_000, drain_timeout=90,
                      say=lambda line: print(f"{time.monotonic() - began:6.2f}s {line}", flush=True))
    if args.to == "rollback":
        step = services.rollback("ledger.write", actor="e2e", reason="e2e rollback", executor=actions)
        print(step.transition, step.actions, flush=True)
        return
    for step in services.advance("ledger.write", actor="e2e", reason=f"e2e {args.to}", executor=actions,
                                 to=args.to):
        print(step.transition, step.actions, flush=True)


if __name__ == "__main__":
    main()
