"""The rotation task: its schedule, its body, and a real Celery worker running it via Redis."""

import io
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from idp.celery import app
from idp.models import SigningKey
from idp.tasks import signing_key_rotate_task

ROOT = Path(__file__).resolve().parents[2]


def test_beat_schedule_runs_rotation_hourly():
    entry = app.conf.beat_schedule["rotate-signing-keys"]

    assert entry["task"] == "rotate_signing_keys"
    assert entry["schedule"] == 3600.0
    assert "rotate_signing_keys" in app.tasks


@pytest.mark.django_db
def test_task_body_creates_the_first_keys_and_is_idempotent():
    first = signing_key_rotate_task.run()
    second = signing_key_rotate_task.run()

    assert len(first) == 3
    assert second == []
    assert SigningKey.objects.filter(state="active").count() == 3


@pytest.mark.django_db
def test_keys_maintain_command_runs_the_task_in_place():
    out = io.StringIO()

    call_command("keys", "maintain", "--json", stdout=out)

    result = json.loads(out.getvalue())
    assert len(result["events"]) == 3
    assert {k["state"] for k in result["keys"]} == {"active"}


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_rotation_runs_on_a_real_worker_through_redis(tmp_path):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis: run with REDIS_URL set (CI does; see `make test-pg`)")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
    }
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "idp", "worker", "--pool=solo", "-Q", queue,
         "--without-mingle", "--without-gossip", "--loglevel=INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        signing_key_rotate_task.apply_async(queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            if SigningKey.objects.filter(state="active").count() == 3:
                break
            time.sleep(0.2)  # waiting on another process, not controlling time
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    output = (tmp_path / "worker.log").read_text()
    assert SigningKey.objects.filter(state="active").count() == 3, output
    assert "rotate_signing_keys" in output
    assert "succeeded" in output
