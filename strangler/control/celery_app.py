"""The control plane's Celery app: nightly reconciliation and the sweep that resumes runs.

Broker as the monolith's (monolith/celery_app.py): Redis when STRANGLER_REDIS_URL is set,
otherwise kombu's filesystem transport, here under STRANGLER_HOME/celery-control so the
monolith's workers never see these tasks. Its own queue name, for the same reason on Redis.
kombu's filesystem transport deletes a message when a worker takes it, so a worker killed
mid-task loses the message even with acks_late: the ``resume`` sweep re-enqueues any
unfinished run nobody holds. On Redis, acks_late redelivery does it too.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab

from strangler.config import Settings, get_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strangler.control.settings")

QUEUE = "strangler-control"
app = Celery("strangler-control")


def broker_config(settings: Settings) -> dict[str, object]:
    """Broker, queue and delivery settings for ``settings`` (tests build a producer with it)."""
    broker = settings.celery_broker_url
    options: dict[str, object] = {}
    if broker.startswith("filesystem"):
        folder = settings.home / "celery-control"
        for sub in ("out", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        options = {
            "data_folder_in": str(folder / "out"),
            "data_folder_out": str(folder / "out"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            "control_folder": str(folder / "control"),  # kombu's default is relative to the cwd
        }
    return {
        "broker_url": broker,
        "broker_transport_options": options,
        "task_default_queue": QUEUE,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "timezone": "UTC",
    }


BEAT_SCHEDULE = {
    "reconcile-ledger-nightly": {
        "task": "reconciliation.nightly", "schedule": crontab(hour=2, minute=15), "args": ("ledger",)},
    "reconcile-resume-stale": {"task": "reconciliation.resume", "schedule": crontab(minute="*/10")},
}


@app.on_configure.connect
def _configure(sender: Celery, **kwargs: object) -> None:
    sender.conf.update(**broker_config(get_settings()), beat_schedule=BEAT_SCHEDULE)


@app.on_after_finalize.connect
def _django(sender: Celery, **kwargs: object) -> None:
    import django

    django.setup()


app.autodiscover_tasks(["strangler.control.reconciliation"])
