"""The service's Celery app: ``celery -A extracted.webhooks.celery_app worker -Q webhooks``.

Broker as the monolith's (Redis when STRANGLER_REDIS_URL is set, else kombu's filesystem
transport) but its own folder and queue, so the monolith's workers never see these tasks.
Configured on first use, never at import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from celery import Celery

QUEUE = "webhooks"
DELIVER_TASK = "webhooks.deliver"
DELIVER_BATCH_TASK = "webhooks.deliver_batch"

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "extracted.webhooks.settings")


def celery_config(broker_url: str, folder: Path) -> dict[str, Any]:
    options: dict[str, object] = {}
    if broker_url.startswith("filesystem"):
        for sub in ("out", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        options = {"data_folder_in": str(folder / "out"), "data_folder_out": str(folder / "out"),
                   "processed_folder": str(folder / "processed"), "store_processed": False,
                   "control_folder": str(folder / "control")}
    return {
        "broker_url": broker_url,
        "broker_transport_options": options,
        "task_default_queue": QUEUE,
        "task_ignore_result": True,
        "task_acks_late": True,  # the task is idempotent (it claims its delivery row first)
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 4,
        "broker_connection_retry_on_startup": True,
        "imports": ["extracted.webhooks.tasks"],
        # for `celery beat`: re-enqueue deliveries whose task was lost (the consumer sweeps too)
        "beat_schedule": {"webhooks-sweep": {"task": "webhooks.sweep", "schedule": 60.0}},
    }


def make_app(broker_url: str, folder: Path) -> Celery:
    """A Celery app for processes that only enqueue (the consumer, the bench)."""
    app = Celery("webhooks")
    app.conf.update(celery_config(broker_url, folder))
    return app


app = Celery("webhooks")


@app.on_configure.connect
def _configure(sender: Celery, **kwargs: object) -> None:
    from extracted.webhooks.config import get_config

    config = get_config()
    sender.conf.update(celery_config(config.broker_url, config.broker_folder))
