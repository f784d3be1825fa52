"""The rotation task: its schedule, its body, and a real Celery worker running it via Redis."""

import io
import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
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


@contextmanager
def real_worker(tmp_path, **env_overrides):
    """A Celery worker process on Redis, on a queue of its own, against the test database."""
    if not settings.REDIS_URL:
        pytest.skip("needs Redis: run with REDIS_URL set (CI does; see `make test-pg`)")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        **env_overrides,
    }
    log_path = tmp_path / f"worker-{queue}.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "idp", "worker", "--pool=solo", "-Q", queue,
             "--without-mingle", "--without-gossip", "--loglevel=INFO"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield queue, worker, log_path
        finally:
            worker.terminate()
            worker.wait(timeout=30)


def wait_for(condition, worker, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and worker.poll() is None and not condition():
        time.sleep(0.2)  # waiting on another process, not controlling time


@pytest.mark.django_db(transaction=True)
def test_rotation_runs_on_a_real_worker_through_redis(tmp_path):
    with real_worker(tmp_path) as (queue, worker, log_path):
        signing_key_rotate_task.apply_async(queue=queue)
        wait_for(lambda: SigningKey.objects.filter(state="active").count() == 3, worker)
    output = log_path.read_text()
    assert SigningKey.objects.filter(state="active").count() == 3, output
    assert "rotate_signing_keys" in output
    assert "succeeded" in output


@pytest.mark.django_db(transaction=True)
def test_backchannel_logout_is_retried_by_a_real_worker_until_the_rp_is_back(tmp_path, user):
    from django.test import Client as Browser

    from idp.models import LogoutDelivery
    from idp.tasks import backchannel_logout_deliver_task
    from tests.factories import PASSWORD
    from tests.idp.conftest import make_rp, query_of
    from tests.idp.test_sessions_logout import Receiver

    receiver = Receiver(failures=2)  # down for the first two attempts
    rp = make_rp(skip_consent=True, backchannel_logout_uri=receiver.url)
    browser = Browser()
    browser.post("/login", {"email": user.email, "password": PASSWORD})
    location = browser.get("/authorize", rp.authorize_params())["Location"]
    assert rp.redeem(browser, query_of(location)["code"]).status_code == 200
    try:
        with (
            pytest.MonkeyPatch.context() as patch,
            real_worker(tmp_path, IDP_BACKCHANNEL_LOGOUT_RETRY_DELAY="1") as (queue, worker, log),
        ):
            patch.setattr("idp.services.logout.backchannel_logout_dispatch", lambda ids: None)
            browser.post("/logout")
            delivery = LogoutDelivery.objects.get()
            backchannel_logout_deliver_task.apply_async(args=[delivery.pk], queue=queue)
            wait_for(lambda: LogoutDelivery.objects.get().status != "pending", worker)
    finally:
        receiver.close()

    delivery.refresh_from_db()
    assert delivery.status == "delivered", log.read_text()
    assert delivery.attempts == 3
    assert len(receiver.tokens) == 1
