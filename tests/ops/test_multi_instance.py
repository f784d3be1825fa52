"""Two gunicorn nodes, one Celery worker and beat, sharing PostgreSQL and Redis: a user signs
in on one node and the app finishes on the other; rotation and revocation are seen by both."""

import os
import re
import subprocess
import sys
import uuid
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.db import connection

from tests.factories import PASSWORD, UserFactory
from tests.idp.conftest import make_rp
from tests.processes import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def cluster(tmp_path):
    """Node A and node B (gunicorn, production settings), a worker and beat, on the real
    PostgreSQL and Redis of this run, with a queue and cache prefix of their own."""
    db = connection.settings_dict
    if not (db["ENGINE"].endswith("postgresql") and settings.REDIS_URL):
        pytest.skip("needs PostgreSQL and Redis: DATABASE_URL=postgres://… REDIS_URL=… (CI)")
    port_a, port_b = free_port(), free_port()
    issuer = f"http://127.0.0.1:{port_a}"
    run = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "idp.settings",
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "IDP_CACHE_PREFIX": f"multi-{run}",
        "CELERY_TASK_DEFAULT_QUEUE": f"multi-{run}",
        "IDP_ISSUER": issuer,
        "STATIC_ROOT": str(tmp_path / "static"),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_ACCESS_LOG": str(tmp_path / "access.log"),
    }
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
                   cwd=ROOT, env=env, check=True, timeout=120)  # fmt: skip
    logs = []
    with ExitStack() as stack:

        def start(name: str, *command: str, **extra: str) -> subprocess.Popen:
            log = stack.enter_context((tmp_path / f"{name}.log").open("w"))
            logs.append(tmp_path / f"{name}.log")
            process = subprocess.Popen(command, cwd=ROOT, env={**env, **extra}, stdout=log,
                                       stderr=subprocess.STDOUT)  # fmt: skip
            stack.callback(lambda: (process.terminate(), process.wait(timeout=30)))
            return process

        gunicorn = [sys.executable, "-m", "gunicorn", "-c", "docker/gunicorn.conf.py",
                    "idp.wsgi"]  # fmt: skip
        start("node-a", *gunicorn, HOST="127.0.0.1", PORT=str(port_a))
        start("node-b", *gunicorn, HOST="127.0.0.1", PORT=str(port_b))
        celery = [sys.executable, "-m", "celery", "-A", "idp"]
        start("worker", *celery, "worker", "--pool=solo", "--without-mingle",
              "--without-gossip", "--loglevel=INFO")  # fmt: skip
        start("beat", *celery, "beat", "--loglevel=INFO", "-s", str(tmp_path / "beat-schedule"))
        try:
            node_b = f"http://127.0.0.1:{port_b}"
            wait_until(lambda: answers(f"{issuer}/healthz") and answers(f"{node_b}/healthz"),
                       60, "both nodes")  # fmt: skip
            yield {"a": issuer, "b": f"http://127.0.0.1:{port_b}", "issuer": issuer,
                   "queue": env["CELERY_TASK_DEFAULT_QUEUE"], "logs": logs}  # fmt: skip
        finally:
            pass


def sign_in(browser: requests.Session, node: str, email: str) -> None:
    page = browser.get(f"{node}/login", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = browser.post(f"{node}/login", data={"email": email, "password": PASSWORD,
                            "csrfmiddlewaretoken": token}, allow_redirects=False,
                            headers={"Referer": f"{node}/login"}, timeout=10)  # fmt: skip
    assert response.status_code == 302, response.text[:500]


def kids(node: str) -> set[str]:
    return {k["kid"] for k in requests.get(f"{node}/jwks.json", timeout=10).json()["keys"]}


def test_sign_in_on_a_finish_on_b_and_rotation_seen_by_both(cluster):
    from idp.tasks import signing_key_rotate_task

    # The nodes run the production settings: the password is hashed with Argon2 there.
    user = UserFactory()
    hasher = Argon2PasswordHasher()
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    app = make_rp(skip_consent=True, redirect_uris=["http://127.0.0.1:9/callback"])
    browser = requests.Session()
    a, b = cluster["a"], cluster["b"]

    sign_in(browser, a, user.email)
    params = app.authorize_params(scope="openid offline_access")
    authorized = browser.get(f"{a}/authorize", params=params, allow_redirects=False, timeout=10)
    code = parse_qs(urlsplit(authorized.headers["Location"]).query)["code"][0]
    auth = (app.client_id, app.secret)
    first = requests.post(f"{b}/token", data=app.token_request(code), auth=auth, timeout=10)
    assert first.status_code == 200, first.text
    tokens = first.json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    userinfo = requests.get(f"{b}/userinfo", headers=bearer, timeout=10)
    assert userinfo.json()["sub"] == str(user.subject)

    refreshed = requests.post(f"{a}/token", auth=auth, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})  # fmt: skip
    assert refreshed.status_code == 200
    replay = requests.post(f"{b}/token", auth=auth, timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})  # fmt: skip
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"

    before = kids(a)
    assert before == kids(b)
    signing_key_rotate_task.apply_async(kwargs={"force": True}, queue=cluster["queue"])
    wait_until(lambda: kids(a) - before and kids(b) == kids(a), 60,
               "the rotation on both nodes")  # fmt: skip
    new_token = requests.post(f"{b}/token", auth=auth, timeout=10, data={
        "grant_type": "refresh_token",
        "refresh_token": refreshed.json()["refresh_token"]})  # fmt: skip
    assert new_token.status_code == 400  # the family was revoked by the replay above
