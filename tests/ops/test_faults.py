"""Fault tests on the production topology, with a PostgreSQL and a Redis of their own (so they
can be stopped without touching the services the rest of the suite uses): Redis stopped
during traffic, PostgreSQL restarted during traffic, and a worker killed in the middle of a
task (redelivered once the broker's visibility timeout passes). Bounded, loopback only."""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.idp.conftest import pkce_pair
from tests.idp.test_sessions_logout import Receiver
from tests.processes import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)


def status(url: str, **kwargs) -> int:
    try:
        return requests.get(url, timeout=5, **kwargs).status_code
    except requests.RequestException:
        return 0


class PrivateRedis:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self.ping, 20, "redis")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None


class PrivatePostgres:
    def __init__(self) -> None:
        self.port = free_port()
        # Not under pytest's tmp_path: the postgres user must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="portcullis-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=True, timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def init(self) -> None:
        shutil.chown(self.root, "postgres")
        self.socket_dir.mkdir()
        shutil.chown(self.socket_dir, "postgres")
        self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust",
                          "-U", "postgres")  # fmt: skip
        self.start()
        self._as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                          "-U", "postgres", "portcullis")  # fmt: skip

    def start(self) -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-l",
                          str(self.root / "pg.log"), "-o",
                          f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1",
                          "start")  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast",
                          "stop")  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/portcullis"


@pytest.fixture
def stack(tmp_path):
    """A gunicorn node, a worker, a PostgreSQL and a Redis, all of the test's own."""
    if PG_BIN is None or shutil.which("redis-server") is None or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL binaries, redis-server and root (CI has them)")
    redis, pg = PrivateRedis(tmp_path), PrivatePostgres()
    redis.start()
    pg.init()
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "idp.settings",
        "DEBUG": "0",
        "SECRET_KEY": "fault-tests-" + "k" * 40,
        "DATABASE_URL": pg.url,
        "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        "IDP_ISSUER": issuer,
        "STATIC_ROOT": str(tmp_path / "static"),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_THREADS": "4",
        "GUNICORN_ACCESS_LOG": str(tmp_path / "access.log"),
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_UNACKED_RESTORE_INTERVAL": "1",
        "CELERY_UNACKED_RESTORE_THROTTLE": "1",
        "DATABASE_CONN_MAX_AGE": "60",
    }

    def manage(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        return result.stdout

    manage("migrate", "--noinput", "-v0")
    manage("collectstatic", "--noinput", "-v0")
    created = manage("bootstrap", "--no-migrate", "--create-admin", "--email", "ops@example.test")
    admin_password = re.search(r"password: (\S+)", created).group(1)
    processes: dict[str, subprocess.Popen] = {}

    def start(name: str, *command: str) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("a")
        processes[name] = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                           stderr=subprocess.STDOUT)  # fmt: skip
        return processes[name]

    env.update({"HOST": "127.0.0.1", "PORT": str(port)})
    start("web", sys.executable, "-m", "gunicorn", "-c", "docker/gunicorn.conf.py", "idp.wsgi")
    wait_until(lambda: status(f"{issuer}/healthz") == 200, 60, "the node")
    worker_command = [sys.executable, "-m", "celery", "-A", "idp", "worker", "--pool=solo",
                      "--without-mingle", "--without-gossip", "--loglevel=INFO"]  # fmt: skip
    try:
        yield {"issuer": issuer, "redis": redis, "pg": pg, "manage": manage, "start": start,
               "processes": processes, "worker_command": worker_command,
               "admin": ("ops@example.test", admin_password), "tmp": tmp_path}  # fmt: skip
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        redis.stop()
        with contextlib.suppress(subprocess.CalledProcessError):
            pg.stop()
        shutil.rmtree(pg.root, ignore_errors=True)


def register_app(stack, *extra: str) -> dict:
    output = stack["manage"](
        "clients", "create", "--name", "Fault RP", "--redirect-uri", "http://127.0.0.1:9/cb",
        "--scope", "openid profile email offline_access", "--skip-consent", "--json", *extra,
    )  # fmt: skip
    return json.loads(output)


def sign_in(issuer: str, email: str, password: str) -> requests.Session:
    browser = requests.Session()
    page = browser.get(f"{issuer}/login", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = browser.post(f"{issuer}/login", allow_redirects=False, timeout=10, data={
        "email": email, "password": password, "csrfmiddlewaretoken": token})  # fmt: skip
    assert response.status_code == 302, response.text[:300]
    return browser


def code_flow(browser: requests.Session, issuer: str, app: dict) -> tuple[str, str]:
    verifier, challenge = pkce_pair()
    response = browser.get(f"{issuer}/authorize", allow_redirects=False, timeout=10, params={
        "response_type": "code", "client_id": app["client_id"], "scope": "openid offline_access",
        "redirect_uri": "http://127.0.0.1:9/cb", "state": "s", "nonce": "n",
        "code_challenge": challenge, "code_challenge_method": "S256"})  # fmt: skip
    assert response.status_code == 302, response.text[:300]
    return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0], verifier


def redeem(issuer: str, app: dict, code: str, verifier: str) -> requests.Response:
    return requests.post(f"{issuer}/token", auth=(app["client_id"], app["client_secret"]),
                         timeout=10, data={"grant_type": "authorization_code", "code": code,
                                           "redirect_uri": "http://127.0.0.1:9/cb",
                                           "code_verifier": verifier})  # fmt: skip


def test_redis_down_sign_in_still_works_and_deliveries_resume(stack):
    issuer, (email, password) = stack["issuer"], stack["admin"]
    receiver = Receiver()
    app = register_app(stack, "--backchannel-logout-uri", receiver.url)
    stack["start"]("worker", *stack["worker_command"])
    before = sign_in(issuer, email, password)
    issued = redeem(issuer, app, *code_flow(before, issuer, app)).json()

    stack["redis"].stop()
    try:
        during = sign_in(issuer, email, password)  # sessions are in the database
        fresh = redeem(issuer, app, *code_flow(during, issuer, app))
        assert fresh.status_code == 200
        bearer = {"Authorization": f"Bearer {issued['access_token']}"}
        assert status(f"{issuer}/userinfo", headers=bearer) == 200  # nothing issued is lost
        assert before.get(f"{issuer}/account", timeout=10).status_code == 200  # nobody out
        refreshed = requests.post(f"{issuer}/token", timeout=10,
                                  auth=(app["client_id"], app["client_secret"]),
                                  data={"grant_type": "refresh_token",
                                        "refresh_token": issued["refresh_token"]})  # fmt: skip
        assert refreshed.status_code == 200
        page = during.get(f"{issuer}/logout", timeout=10).text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        logged_out = during.post(f"{issuer}/logout", data={"csrfmiddlewaretoken": token},
                                 timeout=10)  # fmt: skip
        assert logged_out.status_code == 200  # the broker is down: the page still answers
        assert status(f"{issuer}/readyz") == 503
    finally:
        stack["redis"].start()
    assert receiver.tokens == []
    # What beat runs every minute: re-enqueue deliveries stranded by the outage.
    stack["manage"]("shell", "-c", "from idp.services.logout import logout_deliveries_resume "
                    "as r; r(older_than_seconds=0)")  # fmt: skip
    wait_until(lambda: receiver.tokens, 60, "the back-channel logout after Redis came back")
    receiver.close()


def test_postgres_restart_answers_503_then_recovers_without_half_written_grants(stack):
    issuer, (email, password) = stack["issuer"], stack["admin"]
    app = register_app(stack)
    browser = sign_in(issuer, email, password)
    code, verifier = code_flow(browser, issuer, app)

    stack["pg"].stop()
    try:
        down = redeem(issuer, app, code, verifier)
        assert down.status_code == 503
        assert down.json()["error"] == "temporarily_unavailable"
        assert "Retry-After" in down.headers
        signed_in_page = browser.get(f"{issuer}/account", timeout=10, allow_redirects=False)
        assert signed_in_page.status_code == 503  # the session lives in the database
        assert "Briefly unavailable" in signed_in_page.text
        assert status(f"{issuer}/healthz") == 200
        assert status(f"{issuer}/readyz") == 503
    finally:
        stack["pg"].start()

    wait_until(lambda: status(f"{issuer}/readyz") == 200, 60, "recovery")
    first = redeem(issuer, app, code, verifier)
    second = redeem(issuer, app, code, verifier)
    assert first.status_code == 200  # the failed attempt did not burn the code
    assert second.status_code == 400  # and it is still single use
    assert second.json()["error"] == "invalid_grant"


def test_worker_killed_mid_delivery_is_redelivered_and_delivered_once(stack):
    import threading

    issuer, (email, password) = stack["issuer"], stack["admin"]
    gate = threading.Event()
    receiver = Receiver(gate=gate)
    app = register_app(stack, "--backchannel-logout-uri", receiver.url)
    browser = sign_in(issuer, email, password)
    redeem(issuer, app, *code_flow(browser, issuer, app))
    first_worker = stack["start"]("worker-1", *stack["worker_command"])

    page = browser.get(f"{issuer}/logout", timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    browser.post(f"{issuer}/logout", data={"csrfmiddlewaretoken": token}, timeout=10)
    log = stack["tmp"] / "worker-1.log"
    wait_until(lambda: "deliver_backchannel_logout" in log.read_text(), 30, "the task to start")
    first_worker.send_signal(signal.SIGKILL)  # dies mid-POST: the message stays unacknowledged
    first_worker.wait(timeout=10)
    gate.set()
    stack["start"]("worker-2", *stack["worker_command"])

    def delivery() -> list[str]:
        out = stack["manage"]("shell", "--no-imports", "-c",
                              "from idp.models import LogoutDelivery as D; "
                              "d = D.objects.get(); print(d.status, d.attempts)")  # fmt: skip
        return out.strip().splitlines()[-1].split()

    wait_until(lambda: delivery()[0] == "delivered", 90, "the redelivered task")
    final_status, attempts = delivery()
    assert final_status == "delivered"
    assert int(attempts) == 1  # the killed attempt never recorded: one delivery, not two
    receiver.close()
