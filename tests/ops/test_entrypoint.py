"""docker/entrypoint.sh, tested outside Docker: the command each role execs (dry run), one real
`check --deploy`, the healthcheck against a stand-in server, and the files that must stay in
step with the README and pyproject.toml (docker/.env.example, docker/Dockerfile)."""

import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
# The virtualenv running these tests stands in for the image's /opt/venv.
BIN = Path(sys.prefix) / "bin"
PYTHON = str(BIN / "python")
MANAGE = str(ROOT / "manage.py")


def clean_env(**extra: str) -> dict[str, str]:
    """Only what the entrypoint needs: nothing of the test run's own settings leaks in
    (DJANGO_SETTINGS_MODULE, DATABASE_URL, REDIS_URL, ...)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", tempfile.gettempdir()),
        "LANG": "C.UTF-8",
        "VENV": sys.prefix,
    }
    env.update(extra)
    return env


def entrypoint(*args: str, timeout: float = 30, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        env=clean_env(**env), capture_output=True, text=True, timeout=timeout, cwd="/",
    )  # fmt: skip


def planned(*args: str, **env: str) -> list[tuple[str, list[str]]]:
    """The dry run's plan: [("run" | "exec", argv), ...] in order."""
    result = entrypoint(*args, ENTRYPOINT_DRY_RUN="1", **env)
    assert result.returncode == 0, result.stderr
    parts = re.split(r"^(run|exec): ", result.stdout, flags=re.MULTILINE)
    assert parts[0] == "", result.stdout
    return [(kind, shlex.split(text)) for kind, text in zip(parts[1::2], parts[2::2], strict=True)]


GUNICORN = [str(BIN / "gunicorn"), "-c", str(ROOT / "docker" / "gunicorn.conf.py")]
MIGRATE = [PYTHON, MANAGE, "migrate", "--noinput"]
GRANIAN_APP = "idp.wsgi:application"


def granian(workers="4", threads="1", host="0.0.0.0", port="8000"):  # noqa: S104
    return [str(BIN / "granian"), "--interface", "wsgi", "--host", host, "--port", port,
            "--workers", workers, "--blocking-threads", threads, "--no-ws",
            "--respawn-failed-workers", "--workers-kill-timeout", "20"]  # fmt: skip


@pytest.mark.parametrize("args", [("web",), ()], ids=["web", "default"])
def test_web_execs_granian_by_default(args):
    assert planned(*args, WEB_CONCURRENCY="4") == [("exec", [*granian(), GRANIAN_APP])]


def test_web_granian_takes_its_settings_from_the_environment():
    plan = planned("web", WEB_CONCURRENCY="3", WEB_THREADS="2", HOST="127.0.0.1", PORT="9000")
    assert plan == [("exec", [*granian("3", "2", "127.0.0.1", "9000"), GRANIAN_APP])]


def test_web_granian_defaults_to_one_worker_per_core():
    cores = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout)
    assert planned("web") == [("exec", [*granian(str(cores)), GRANIAN_APP])]


def test_web_server_gunicorn_execs_gunicorn_with_the_config():
    assert planned("web", WEB_SERVER="gunicorn") == [("exec", [*GUNICORN, "idp.wsgi"])]


def test_web_server_must_be_one_we_know():
    result = entrypoint("web", ENTRYPOINT_DRY_RUN="1", WEB_SERVER="uwsgi")
    assert result.returncode == 64
    assert "WEB_SERVER must be granian or gunicorn" in result.stderr


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_web_with_run_migrations_migrates_then_execs_the_server(value, server):
    plan = planned("web", RUN_MIGRATIONS=value, WEB_SERVER=server, WEB_CONCURRENCY="4")
    assert plan[0] == ("run", MIGRATE)
    assert plan[1][0] == "exec"
    assert plan[1][1][0] == str(BIN / server)
    assert len(plan) == 2


@pytest.mark.parametrize("value", ["0", "", "no"])
def test_web_does_not_migrate_unless_asked(value):
    assert planned("web", RUN_MIGRATIONS=value, WEB_CONCURRENCY="4") == [
        ("exec", [*granian(), GRANIAN_APP])
    ]


def test_web_passes_extra_server_options_before_the_app():
    assert planned("web", "--access-log", WEB_CONCURRENCY="4") == [
        ("exec", [*granian(), "--access-log", GRANIAN_APP])
    ]
    assert planned("web", "--workers", "3", WEB_SERVER="gunicorn") == [
        ("exec", [*GUNICORN, "--workers", "3", "idp.wsgi"])
    ]


def test_worker_log_level_comes_from_log_level():
    celery = str(BIN / "celery")
    assert planned("worker") == [("exec", [celery, "-A", "idp", "worker", "--loglevel", "INFO"])]
    assert planned("worker", "--concurrency", "2", LOG_LEVEL="WARNING") == [
        ("exec", [celery, "-A", "idp", "worker", "--loglevel", "WARNING", "--concurrency", "2"])
    ]


def test_beat_keeps_its_schedule_under_the_data_dir(tmp_path):
    celery = str(BIN / "celery")
    schedule = str(tmp_path / "celerybeat-schedule")
    assert planned("beat", IDP_DATA_DIR=str(tmp_path)) == [
        ("exec", [celery, "-A", "idp", "beat", "--loglevel", "INFO", "--schedule", schedule])
    ]
    assert planned("beat", BEAT_SCHEDULE_FILE="/srv/beat/schedule", LOG_LEVEL="DEBUG") == [
        ("exec", [celery, "-A", "idp", "beat", "--loglevel", "DEBUG", "--schedule",
                  "/srv/beat/schedule"]),
    ]  # fmt: skip
    default = str(ROOT / "var" / "celerybeat-schedule")
    assert planned("beat")[0][1][-2:] == ["--schedule", default]


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (("migrate",), MIGRATE),
        (("bootstrap", "--create-admin", "--email", "a@example.com"),
         [PYTHON, MANAGE, "bootstrap", "--no-migrate", "--create-admin", "--email",
          "a@example.com"]),
        (("check",), [PYTHON, MANAGE, "check", "--deploy"]),
        (("check", "--fail-level", "WARNING"),
         [PYTHON, MANAGE, "check", "--deploy", "--fail-level", "WARNING"]),
        (("manage", "clients", "list", "--json"), [PYTHON, MANAGE, "clients", "list", "--json"]),
    ],
    ids=["migrate", "bootstrap", "check", "check-strict", "manage"],
)  # fmt: skip
def test_management_roles(args, command):
    assert planned(*args) == [("exec", command)]


def test_unknown_command_is_execd_as_is():
    assert planned("echo", "hello world", "it's") == [("exec", ["echo", "hello world", "it's"])]


def test_passthrough_runs_in_the_app_dir_with_the_app_first_on_pythonpath():
    result = entrypoint("sh", "-c", 'pwd; echo "$PYTHONPATH"', PYTHONPATH="/elsewhere")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(ROOT), f"{ROOT}:/elsewhere"]


def test_dry_run_flag_is_the_same_as_the_variable():
    flag = entrypoint("--dry-run", "worker")
    assert flag.returncode == 0, flag.stderr
    assert flag.stdout == entrypoint("worker", ENTRYPOINT_DRY_RUN="1").stdout


def test_app_dir_can_be_overridden(tmp_path):
    assert planned("migrate", APP_DIR=str(tmp_path)) == [
        ("exec", [PYTHON, str(tmp_path / "manage.py"), "migrate", "--noinput"])
    ]


def test_tools_are_found_on_path_when_the_venv_has_none(tmp_path):
    plan = planned("web", VENV=str(tmp_path / "no-venv"), PATH=f"{BIN}:/usr/bin:/bin",
                   WEB_CONCURRENCY="4")  # fmt: skip
    assert plan == [("exec", [*granian(), GRANIAN_APP])]
    missing = entrypoint("worker", ENTRYPOINT_DRY_RUN="1", VENV=str(tmp_path / "no-venv"),
                         PATH="/usr/bin:/bin")  # fmt: skip
    assert missing.returncode == 127
    assert "cannot find celery" in missing.stderr


def test_check_deploy_passes_outside_docker(tmp_path):
    """The one real run: production settings (DEBUG off) on the default loopback issuer."""
    result = entrypoint(
        "check",
        timeout=180,
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=f"sqlite:///{tmp_path}/check.sqlite3",
        IDP_DATA_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


class _Probe(BaseHTTPRequestHandler):
    status = 200
    hosts: list[str] = []

    def do_GET(self):  # noqa: N802  (http.server's name)
        type(self).hosts.append(f"{self.path} {self.headers['Host']}")
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def probe_server():
    _Probe.status, _Probe.hosts = 200, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Probe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_healthcheck_asks_healthz_as_the_issuer_host(probe_server):
    port = str(probe_server.server_address[1])
    ok = entrypoint("healthcheck", PORT=port, IDP_ISSUER="https://id.example.test")
    assert ok.returncode == 0, ok.stderr
    assert _Probe.hosts == ["/healthz id.example.test"]

    _Probe.status = 503
    failing = entrypoint("healthcheck", PORT=port)
    assert failing.returncode == 1
    assert "503" in failing.stderr
    assert _Probe.hosts[-1] == "/healthz 127.0.0.1"


def test_entrypoint_is_valid_posix_sh():
    result = subprocess.run(["sh", "-n", str(ENTRYPOINT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_entrypoint_is_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run(
        ["shellcheck", "--shell=sh", str(ENTRYPOINT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_env_example_lists_every_variable_of_the_readme():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            names.update(re.findall(r"`([A-Z][A-Z0-9_]*\*?)`", row.split("|")[1]))
    assert len(names) > 30, "README's configuration table was not found"
    example = (ROOT / "docker" / ".env.example").read_text()
    listed = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    missing = sorted(
        name
        for name in names
        if not (
            any(item.startswith(name[:-1]) for item in listed)
            if name.endswith("*")
            else name in listed
        )
    )
    assert missing == []


def test_dockerfile_copies_every_package_and_the_top_level_dirs():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [pattern.rstrip("*") for pattern in include]
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    for name in [*packages, "templates", "static"]:
        assert dockerfile.count(f"COPY {name} ./{name}\n") >= 1, name
    assert "COPY manage.py ./" in dockerfile
    assert "COPY docker ./docker" not in dockerfile  # docker/.env holds the secrets
