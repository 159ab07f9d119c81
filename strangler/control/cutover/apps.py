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


def _decommissioned(capability: str) -> str | None:
    from strangler.control.cutover.models import Plan
    from strangler.control.routing import services as routing

    if Plan.objects.using(routing.control_db()).filter(capability=capability,
                                                       state="decommissioned").exists():
        return ("its migration plan is decommissioned: the monolith's code for its routes is gone, "
                "so every request sent there would fail")
    return None
