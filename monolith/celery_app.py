"""The monolith's Celery app (payout settlement). Broker from strangler's settings.

Redis when STRANGLER_REDIS_URL is set; otherwise kombu's filesystem transport
under STRANGLER_HOME, which needs no server at all.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery

from acl.django import install_celery_hooks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")

app = Celery("paystream")
install_celery_hooks(app)  # captured writes made by tasks carry the task's correlation id


@app.on_configure.connect
def _configure(sender: Celery, **kwargs: object) -> None:
    from django.conf import settings

    broker = settings.CELERY_BROKER_URL
    options: dict[str, object] = {}
    if broker.startswith("filesystem"):
        folder = Path(settings.CELERY_FOLDER)
        for sub in ("out", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        options = {
            "data_folder_in": str(folder / "out"),
            "data_folder_out": str(folder / "out"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            # kombu's default is ./control, relative to wherever the process was started
            "control_folder": str(folder / "control"),
        }
    sender.conf.update(
        broker_url=broker,
        broker_transport_options=options,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
    )


app.autodiscover_tasks(["monolith.payouts"])
