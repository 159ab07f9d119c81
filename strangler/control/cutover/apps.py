"""App config of the cutover plans (label ``cutover``)."""

from django.apps import AppConfig


class CutoverConfig(AppConfig):
    name = "strangler.control.cutover"
    label = "cutover"
    verbose_name = "Cutover plans (migration state machine)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from strangler.control.routing import services as routing

        routing.register_rollback_guard(_decommissioned)
        routing.register_direct_change_guard(_write_capability_moves_by_plan)


def _decommissioned(capability: str) -> str | None:
    from strangler.control.cutover.models import Plan
    from strangler.control.routing import services as routing

    if Plan.objects.using(routing.control_db()).filter(capability=capability,
                                                       state="decommissioned").exists():
        return ("its migration plan is decommissioned: the monolith's code for its routes is gone, "
                "so every request sent there would fail")
    return None


def _write_capability_moves_by_plan(capability: str | None, action: str) -> str | None:
    """A write capability's flag moves only through its plan's hand-over.

    Flipped, rolled back or killed directly, the monolith would write again on balances missing
    the ledger's unmirrored postings, with posting ids below the ledger's, and the hand-over
    that prevents exactly that (hold, drain, hand the ids over) would not run: money lost or
    made. A kill switch is refused only while the capability is off the monolith.
    """
    from migrations.plan import WRITE_CAPABILITIES
    from strangler.control.routing import services as routing
    from strangler.control.routing.models import Capability

    plan_way = ("use `strangler migrate rollback {0}` (it holds the ledger's writes, mirrors its "
                "postings back and hands the ids over first)")
    if capability is None:  # the global switch
        live = list(Capability.objects.using(routing.control_db()).filter(
            name__in=WRITE_CAPABILITIES, killed=False).exclude(mode="monolith")
            .values_list("name", flat=True))
        if action == "kill" and live:
            return (f"{', '.join(live)} takes writes off the monolith; the global switch would "
                    "send them back without the hand-over, losing or making money. First "
                    + plan_way.format(live[0]))
        return None
    if capability not in WRITE_CAPABILITIES:
        return None
    if action == "kill":
        cap = Capability.objects.using(routing.control_db()).filter(name=capability).first()
        if cap is None or cap.mode == "monolith":
            return None
        return ("its writes would go back to the monolith without the hand-over, losing or making "
                "money; " + plan_way.format(capability))
    return (f"{capability} moves writes, so only its plan moves it: `strangler migrate advance "
            f"{capability}` (shadow, then the hand-over to extracted) or " + plan_way.format(capability))
