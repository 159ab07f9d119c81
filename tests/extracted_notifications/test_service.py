"""The service's Django project as processes: the API under gunicorn (/healthz, /readyz, /metrics
with the request id) and ``manage.py check`` refusing a broken template catalogue."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

from strangler.stack.net import free_port
from tests.acl.helpers import wait_until
from tests.extracted_notifications.conftest import REPO
from tests.extracted_notifications.records import Customer, publish, record
from tests.extracted_notifications.servers import SmtpServer


def _env(db: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    return {**env, "STRANGLER_NOTIFICATIONS_DATABASE_URL": db, "STRANGLER_LOG_FORMAT": "console", **extra}


def _get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, dict(r.headers), r.read().decode()
    except OSError:
        return 0, {}, ""


def test_health_readiness_and_metrics_answer_with_a_request_id(notifications_db: str, tmp_path: Path) -> None:
    record(notifications_db, "ev-api")  # one pending e-mail for the metrics to count
    port, log = free_port(), tmp_path / "api.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "extracted.notifications.wsgi:application",
                                 "--bind", f"127.0.0.1:{port}", "--workers", "1"], cwd=REPO,
                                env=_env(notifications_db), stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _get(f"{base}/readyz")[0] == 200, 60, "the API to be ready")
        status, headers, body = _get(f"{base}/healthz")
        assert status == 200 and '"ok"' in body
        assert headers.get("X-Request-ID")
        status, _, metrics = _get(f"{base}/metrics")
        assert status == 200
        assert 'notifications_records{mode="extracted",status="pending"} 1.0' in metrics
    finally:
        proc.terminate()
        proc.wait(20)


def test_manage_check_refuses_a_catalogue_missing_a_kind(tmp_path: Path) -> None:
    (tmp_path / "en.toml").write_text('["kyc.verified"]\nsubject = "s"\nbody = "b"\n', encoding="utf-8")
    env = _env("postgresql://postgres@127.0.0.1:1/unused",
               STRANGLER_NOTIFICATIONS_TEMPLATES_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "extracted.notifications.manage", "check"], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0
    assert "notifications.E001" in done.stderr
    assert "the fallback locale has no template for" in done.stderr


def test_the_worker_process_emails_an_event_and_stops_cleanly_on_sigterm(
        notifications_db: str, kafka_bootstrap: str, smtp: SmtpServer, tmp_path: Path) -> None:
    env = _env(notifications_db, STRANGLER_KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
               STRANGLER_NOTIFICATIONS_SMTP_PORT=str(smtp.port), STRANGLER_NOTIFICATIONS_DECISIONS="own",
               STRANGLER_HOME=str(tmp_path / "home"))
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        argv = [sys.executable, "-m", "extracted.notifications.consume", "--log-format", "json",
                "--group", f"notifications-{uuid.uuid4().hex[:8]}"]
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        ravi = Customer()
        credit = ravi.credit(1, "req-process")
        publish(kafka_bootstrap, [ravi.registered(), ravi.wallet_opened(), credit])
        wait_until(lambda: any(m["To"] == ravi.email for m in smtp.messages()), 90, "the worker's e-mail")
    finally:
        proc.terminate()
        code = proc.wait(30)
    assert code == 0, log.read_text()[-3000:]
    assert '"notifications.worker_started"' in log.read_text()
