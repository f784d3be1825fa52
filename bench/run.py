"""`make bench`: Portcullis under load, in its production configuration, measured with wrk.

One run:
  1. a fresh PostgreSQL database and a Redis database of its own; `DEBUG` off;
  2. Portcullis started by the production entrypoint (`docker/entrypoint.sh web`), and beside
     it the *reference deployment*: the same app under plain `gunicorn -w 2 -k sync` with
     default settings, whose `/healthz` is the floor every ratio is taken against;
  3. a user and clients provisioned through the normal CLI, a browser session obtained by
     driving the login and consent forms;
  4. each scenario at 1, 8 and 32 connections with wrk (Lua scripts in bench/wrk/), bounded
     in time, after a short warm-up, in interleaved rounds: the floor, then the scenario,
     three times; any error or unexpected response fails the run;
  5. a markdown table and a JSON file in bench/results/, the targets checked at 8 connections.

    .venv/bin/python bench/run.py                 # the full run (about 10 minutes)
    .venv/bin/python bench/run.py --smoke         # CI: 2 s a scenario, no speed thresholds
    .venv/bin/python bench/run.py --stack gunicorn-gthread --only floor,discovery,cc_rs256

Needs wrk (Debian package `wrk`; installed with apt-get when missing and run as root),
PostgreSQL and Redis (BENCH_DATABASE_URL, BENCH_REDIS_URL; defaults: the local ones).
"""

from __future__ import annotations

import argparse
import base64
import bisect
import hashlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

import psycopg
import redis
import requests
from cryptography.fernet import Fernet
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = ROOT / "bench" / "wrk"
RESULTS_DIR = ROOT / "bench" / "results"
VENV_BIN = Path(sys.executable).parent
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the code is read off the 302
HTTP_TIMEOUT = 10

CONNECTIONS = (1, 8, 32)
TARGET_CONNECTIONS = 8
# Ratios to the floor at 8 connections (issue #10), and the p99 bound for every scenario
# but password sign-in, which is bounded by the password hasher by design.
TARGETS = {
    "discovery": 1.0,
    "jwks": 1.0,
    "cc_rs256": 0.35,
    "userinfo": 0.45,
    "introspection": 0.45,
    "refresh": 0.14,
    "code_flow": 0.10,
}
P99_LIMIT_MS = 50.0
P99_EXEMPT = {"login"}

# The serving stacks the benchmark can put Portcullis on. `production` is whatever the
# production entrypoint runs; the others are candidates, measured for docs/performance.md.
STACKS = {
    "production": None,
    "gunicorn-sync": ["gunicorn", "-c", "docker/gunicorn.conf.py", "--workers", "{workers}",
                      "--threads", "1", "idp.wsgi"],  # fmt: skip
    "gunicorn-gthread": ["gunicorn", "-c", "docker/gunicorn.conf.py", "--workers", "{workers}",
                         "--threads", "{threads}", "--worker-class", "gthread", "idp.wsgi"],
    "granian": ["granian", "--interface", "wsgi", "--workers", "{workers}",
                "--blocking-threads", "{threads}", "--no-ws", "--host", "127.0.0.1",
                "--port", "{port}", "idp.wsgi:application"],
}  # fmt: skip


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the machine and its services ---


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("wrk not found: installing the Debian package")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env)
        path = shutil.which("wrk")
    if not path:
        sys.exit("bench: wrk is required (apt-get install wrk)")
    return path


def fresh_database(url: str) -> None:
    """Drop and create the benchmark's own database (never the one named `postgres`)."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or name in {"postgres", "template0", "template1"}:
        sys.exit(f"bench: refusing to recreate database {name!r}")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def settle_database(url: str) -> None:
    """CHECKPOINT before a scenario: the dirty pages of the set-up and the scenarios before
    are written now, not by a checkpoint landing inside a 10-second measurement (which
    would measure the disk, once, rather than the scenario). No VACUUM or ANALYZE: the
    statistics of tables this small (hundreds of rows) make prepared statements plan
    sequential scans that the scenario's own inserts then make slow, which is nothing like a
    deployment's tables. Best effort: it needs a superuser or pg_checkpoint."""
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error as exc:
        log(f"no CHECKPOINT before the scenario ({exc.__class__.__name__})")


def fresh_redis(url: str) -> None:
    redis.Redis.from_url(url).flushdb()


# --- processes ---


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_server(name: str, command: list[str], env: dict, port: int, workdir: Path) -> Server:
    log_path = workdir / f"{name}.log"
    process = subprocess.Popen(  # noqa: S603
        command,
        cwd=ROOT,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(name, port, process, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"bench: {name} exited:\n{log_path.read_text()[-3000:]}")
        try:
            if requests.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.3)
    server.stop()
    sys.exit(f"bench: {name} did not answer /healthz:\n{log_path.read_text()[-3000:]}")


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        sys.exit(f"bench: manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


# --- the user agent: sign in and consent through the real forms ---


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": attributes.get("action", ""), "fields": {}})
        elif self.forms and tag == "input" and attributes.get("name"):
            self.forms[-1]["fields"][attributes["name"]] = attributes.get("value", "")


def post_form(session: requests.Session, url: str, html: str, data: dict) -> requests.Response:
    parser = _Forms()
    parser.feed(html)
    path = urlsplit(url).path
    form = next(f for f in parser.forms if urlsplit(urljoin(url, f["action"])).path == path)
    target = urljoin(url, form["action"])
    return session.post(
        target, data={**form["fields"], **data}, headers={"Referer": url},
        allow_redirects=False, timeout=HTTP_TIMEOUT,
    )  # fmt: skip


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@dataclass
class RP:
    client_id: str
    client_secret: str
    scope: str

    @property
    def basic(self) -> str:
        pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    def authorize_path(self) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": self.scope,
                "code_challenge_method": "S256",
            }  # fmt: skip
        )
        return f"/authorize?{query}"


class Browser:
    """A signed-in, consented user agent: the session cookie wrk replays, and code flows
    run from Python to prepare tokens."""

    def __init__(self, issuer: str, rp: RP, email: str, password: str) -> None:
        self.issuer = issuer
        self.rp = rp
        self.session = requests.Session()
        self._sign_in_and_consent(email, password)

    def _sign_in_and_consent(self, email: str, password: str) -> None:
        verifier, challenge = pkce_pair()
        url = f"{self.issuer}{self.rp.authorize_path()}&state=x&code_challenge={challenge}"
        response = self.session.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
        for _ in range(8):
            if response.is_redirect:
                location = urljoin(url, response.headers["Location"])
                if location.startswith(REDIRECT_URI):
                    self._exchange(location, verifier)
                    return
                url = location
                response = self.session.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
            elif urlsplit(url).path == "/login":
                response = post_form(self.session, url, response.text,
                                     {"email": email, "password": password})  # fmt: skip
            elif urlsplit(url).path == "/authorize/continue":
                response = post_form(self.session, url, response.text, {"decision": "approve"})
            else:
                sys.exit(f"bench: unexpected page {url} ({response.status_code})")
        sys.exit("bench: sign-in did not reach the callback")

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)

    def _exchange(self, callback: str, verifier: str) -> dict:
        code = parse_qs(urlsplit(callback).query)["code"][0]
        response = requests.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "code_verifier": verifier,
            },  # fmt: skip
            headers={"Authorization": self.rp.basic},
            timeout=HTTP_TIMEOUT,
        )
        response.raise_for_status()
        return response.json()

    def code(self) -> tuple[str, str]:
        """One silent authorization: the callback URL with a fresh code, and its verifier."""
        verifier, challenge = pkce_pair()
        url = f"{self.issuer}{self.rp.authorize_path()}&state=x&code_challenge={challenge}"
        response = self.session.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
        location = response.headers.get("Location", "")
        if response.status_code != 302 or not location.startswith(REDIRECT_URI):
            sys.exit(f"bench: silent authorization failed ({response.status_code} {location})")
        return location, verifier

    def tokens(self) -> dict:
        """One silent code flow: a fresh access token and refresh token."""
        return self._exchange(*self.code())


# --- wrk ---


def cpu_by_process() -> dict[str, float]:
    """CPU seconds used so far by every process on the machine, summed by process name."""
    ticks: dict[str, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, _, tail = f.read().rpartition(")")
        except OSError:
            continue
        name = head.partition("(")[2]
        fields = tail.split()
        ticks[name] = ticks.get(name, 0) + int(fields[11]) + int(fields[12])
    hz = os.sysconf("SC_CLK_TCK")
    return {name: t / hz for name, t in ticks.items()}


def cpu_groups(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Where the machine's CPU went during a measurement: the web server's processes,
    PostgreSQL, Redis, wrk, and everything else."""
    groups: dict[str, float] = {}
    for name, seconds in after.items():
        used = seconds - before.get(name, 0.0)
        if used <= 0:
            continue
        if name.startswith(("postgres", "postmaster")):
            group = "postgres"
        elif name.startswith("redis"):
            group = "redis"
        elif name == "wrk":
            group = "wrk"
        elif name.startswith(("granian", "gunicorn", "python")):
            group = "web"
        else:
            group = "other"
            if os.environ.get("BENCH_CPU_DEBUG"):
                print(f"  other: {name} {used:.2f} s", file=sys.stderr)
        groups[group] = groups.get(group, 0.0) + used
    return groups


@dataclass
class Measurement:
    scenario: str
    connections: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_detail: dict
    cpu_ms_per_request: dict = field(default_factory=dict)
    floor_rps: float | None = None
    flows: int = 0
    flows_per_s: float = 0.0
    ratio: float | None = None
    # Latency quantiles, percent -> microseconds ("100" is the maximum).
    latency_us: dict = field(default_factory=dict)
    # The interleaved rounds of a row: each one's rate (req/s, or flows/s for the code flow),
    # the floor's req/s just before it, and their ratio.
    rounds: list = field(default_factory=list)


@dataclass
class Scenario:
    name: str
    title: str
    script: str
    path: str
    env: dict = field(default_factory=dict)
    server: str = "ours"
    prepare: object = None  # callable(connections) -> extra env, run before each measurement
    rate_key: str = "rps"  # "flows_per_s" for the code flow


def run_wrk(
    wrk: str, url: str, scenario: Scenario, connections: int, seconds: float, workdir: Path,
    extra_env: dict,
) -> Measurement:  # fmt: skip
    out = workdir / f"{scenario.name}-{connections}.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_WRK_DIR": str(WRK_DIR), "BENCH_OUT": str(out),
           **scenario.env, **extra_env}  # fmt: skip
    # One wrk thread: its ceiling (reported in the results) is far above any scenario's rate,
    # and a second thread would take CPU from the server on a 2-core machine.
    command = [wrk, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
               "-s", str(WRK_DIR / scenario.script), url + scenario.path]  # fmt: skip
    before = cpu_by_process()
    result = subprocess.run(command, env=env, capture_output=True, text=True)  # noqa: S603
    cpu = cpu_groups(before, cpu_by_process())
    if result.returncode or not out.exists():
        sys.exit(f"bench: wrk failed for {scenario.name}:\n{result.stdout}\n{result.stderr}")
    data = json.loads(out.read_text())
    seconds_run = data["duration_us"] / 1e6
    # "99.00" -> "99": the keys are percentages, written by common.lua with two decimals.
    latency = {format(float(q), "g"): int(v) for q, v in data["latency_us"].items()}
    errors = sum(data["errors"].values())
    measurement = Measurement(
        scenario=scenario.name,
        connections=connections,
        requests=data["requests"],
        seconds=round(seconds_run, 2),
        rps=round(data["requests"] / seconds_run, 1),
        p50_ms=round(latency["50"] / 1000, 2),
        p99_ms=round(latency["99"] / 1000, 2),
        errors=errors,
        error_detail={k: v for k, v in data["errors"].items() if v},
        cpu_ms_per_request={
            group: round(seconds * 1000 / max(data["requests"], 1), 3)
            for group, seconds in sorted(cpu.items())
        },
        latency_us=latency,
    )
    if data["flows"]:
        measurement.flows = data["flows"]
        measurement.flows_per_s = round(data["flows"] / seconds_run, 1)
    return measurement


def merged_quantile(parts: list[Measurement], percent: float) -> float:
    """The latency (µs) below which `percent` of the requests of all `parts` fell, from each
    part's quantile table (common.lua: every 0.01 % from the 98th). A part's share below a
    value counts only its quantiles at or under it, so the result errs high, never low, by
    at most one step of the tables."""
    total = sum(p.requests for p in parts)
    tables = []
    for p in parts:
        # Latency grows with the percentage, so in (latency, percent) order the share at or
        # under a value is the percent of the last entry at or under it.
        steps = sorted((v, float(q)) for q, v in p.latency_us.items())
        tables.append((p.requests, [v for v, _ in steps], [q for _, q in steps]))
    candidates = sorted({v for _, values, _ in tables for v in values})
    for value in candidates:
        below = 0.0
        for count, values, shares in tables:
            i = bisect.bisect_right(values, value)
            below += count * (shares[i - 1] if i else 0.0) / 100
        if below >= total * percent / 100:
            return value
    return candidates[-1] if candidates else 0.0


def combine(parts: list[Measurement]) -> Measurement:
    """One row from its rounds: their requests and time summed, latency merged."""
    requests = sum(p.requests for p in parts)
    seconds = sum(p.seconds for p in parts)
    cpu_groups_ = sorted({g for p in parts for g in p.cpu_ms_per_request})
    p50, p99 = merged_quantile(parts, 50), merged_quantile(parts, 99)
    row = Measurement(
        scenario=parts[0].scenario,
        connections=parts[0].connections,
        requests=requests,
        seconds=round(seconds, 2),
        rps=round(requests / seconds, 1) if seconds else 0.0,
        p50_ms=round(p50 / 1000, 2),
        p99_ms=round(p99 / 1000, 2),
        errors=sum(p.errors for p in parts),
        error_detail={k: sum(p.error_detail.get(k, 0) for p in parts)
                      for k in sorted({k for p in parts for k in p.error_detail})},
        cpu_ms_per_request={
            g: round(sum(p.cpu_ms_per_request.get(g, 0.0) * p.requests for p in parts)
                     / max(requests, 1), 3)
            for g in cpu_groups_
        },
        flows=sum(p.flows for p in parts),
        latency_us={"50": int(p50), "99": int(p99),
                    "100": max(p.latency_us.get("100", 0) for p in parts)},
    )  # fmt: skip
    if row.flows:
        row.flows_per_s = round(row.flows / seconds, 1)
    return row


# --- the run ---


def provision(env: dict, workdir: Path, users: int) -> dict:
    """A user, the relying parties and an API, through the CLI an operator would use."""
    email = "bench-admin@example.test"
    out = manage(env, "bootstrap", "--create-admin", "--email", email)
    password = next(
        line.split(":", 1)[1].strip() for line in out.splitlines() if "password:" in line
    )

    def client(*args: str) -> dict:
        return json.loads(manage(env, "clients", "create", "--json", *args))

    rp = client("--name", "Bench RP", "--redirect-uri", REDIRECT_URI,
                "--scope", "openid profile email offline_access")  # fmt: skip
    cc = {
        alg: client(
            "--name",
            f"Bench service {alg}",
            "--grant-type",
            "client_credentials",
            "--id-token-alg",
            alg,
        )  # fmt: skip
        for alg in ("RS256", "ES256")
    }
    api = client("--name", "Bench API", "--grant-type", "client_credentials",
                 "--resource-server")  # fmt: skip

    # Sign-in accounts for the password scenario, one password hash computed once (the
    # hasher's cost is measured on its own below). `manage.py shell` is the CLI an operator
    # scripting account creation would reach for.
    login_password = secrets.token_urlsafe(16)
    script = (
        "from django.contrib.auth.hashers import make_password\n"
        "from accounts.models import User\n"
        f"encoded = make_password({login_password!r})\n"
        "User.objects.bulk_create([User(email=f'bench-user-{i}@example.test', "
        f"password=encoded, email_verified=True) for i in range({users})])\n"
    )
    manage(env, "shell", "-c", script)
    users_file = workdir / "users.txt"
    users_file.write_text(
        "".join(f"{quote(f'bench-user-{i}@example.test')} {login_password}\n" for i in range(users))
    )
    return {"email": email, "password": password, "rp": rp, "cc": cc, "api": api,
            "users_file": users_file}  # fmt: skip


def rp_of(data: dict, scope: str = "") -> RP:
    return RP(data["client_id"], data["client_secret"], scope)


def hasher_cost(env: dict) -> dict:
    script = (
        "import json, time\n"
        "from django.contrib.auth.hashers import check_password, get_hasher, make_password\n"
        "encoded = make_password('correct horse battery staple')\n"
        "runs = []\n"
        "for _ in range(5):\n"
        "    t = time.perf_counter(); check_password('correct horse battery staple', encoded)\n"
        "    runs.append(time.perf_counter() - t)\n"
        "print(json.dumps({'algorithm': get_hasher().algorithm, "
        "'check_ms': round(sorted(runs)[2] * 1000, 1)}))\n"
    )
    return json.loads(manage(env, "shell", "-c", script).strip().splitlines()[-1])


def generator_ceiling(wrk: str, seconds: float, workdir: Path) -> float:
    """wrk against a trivial endpoint (a bare WSGI app under granian, two workers): a lower
    bound of what the load generator itself can drive on this machine."""
    port = free_port()
    command = [str(VENV_BIN / "granian"), "--interface", "wsgi", "--workers", "2",
               "--no-ws", "--host", "127.0.0.1", "--port", str(port),
               "--working-dir", str(ROOT / "bench"), "trivial_app:app"]  # fmt: skip
    log_path = workdir / "trivial.log"
    process = subprocess.Popen(  # noqa: S603
        command, stdout=log_path.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    server = Server("trivial", port, process, log_path)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        scenario = Scenario("ceiling", "wrk ceiling", "static.lua", "/healthz",
                            env={"BENCH_CONTAINS": "ok"})  # fmt: skip
        m = run_wrk(wrk, server.url, scenario, 32, seconds, workdir, {})
        return m.rps
    finally:
        server.stop()


def verify_samples(path: Path, issuer: str, client_id: str) -> int:
    """Every sampled token response: ID token signed by a published key, for this client,
    from this issuer, unexpired, and bound to its access token (at_hash)."""
    if not path.exists():
        return 0
    key_set = KeySet.import_key_set(requests.get(f"{issuer}/jwks.json", timeout=10).json())
    registry = JWTClaimsRegistry(
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        exp={"essential": True},
        nonce={"essential": True},
    )
    count = 0
    for line in path.read_text().splitlines():
        body = json.loads(line)
        token = jwt.decode(body["id_token"], key_set, algorithms=["RS256", "ES256", "EdDSA"])
        registry.validate(token.claims)
        digest = hashlib.sha256(body["access_token"].encode()).digest()
        expected = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
        if token.claims.get("at_hash") != expected:
            sys.exit("bench: a sampled ID token has a wrong at_hash")
        count += 1
    return count


def profile(env: dict, browser: Browser, cc: RP, api: RP, output: Path, port: int) -> None:
    """Replay each hot request in-process under pyinstrument (bench/profile_requests.py)."""
    token = browser.tokens()["access_token"]
    codes = [browser.code() for _ in range(101)]  # redeemed first: they live a minute
    job = {
        "output": str(output),
        "count": 200,
        "show_all": bool(os.environ.get("BENCH_PROFILE_ALL")),
        "requests": {
            "code_token": [{"method": "POST", "path": "/token", "port": str(port),
                            "body": urlencode({"grant_type": "authorization_code",
                                               "code": parse_qs(urlsplit(c).query)["code"][0],
                                               "redirect_uri": REDIRECT_URI,
                                               "code_verifier": v}),
                            "headers": {"Authorization": browser.rp.basic}}
                           for c, v in codes],
            "cc_rs256": {"method": "POST", "path": "/token", "port": str(port),
                         "body": "grant_type=client_credentials",
                         "headers": {"Authorization": cc.basic}},
            "userinfo": {"path": "/userinfo", "port": str(port),
                         "headers": {"Authorization": f"Bearer {token}"}},
            "introspection": {"method": "POST", "path": "/introspect", "port": str(port),
                              "body": f"token={token}", "headers": {"Authorization": api.basic}},
            "refresh": [{"method": "POST", "path": "/token", "port": str(port),
                         "body": f"grant_type=refresh_token&refresh_token={t}",
                         "headers": {"Authorization": browser.rp.basic}}
                        for t in (browser.tokens()["refresh_token"] for _ in range(101))],
            "authorize": {"path": "/authorize", "port": str(port),
                          "query": browser.rp.authorize_path().split("?", 1)[1]
                          + "&state=p&code_challenge=" + pkce_pair()[1],
                          "headers": {"Cookie": browser.cookie_header}},
        },
    }  # fmt: skip
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(ROOT / "bench" / "profile_requests.py")],
        cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "idp.settings"},
        input=json.dumps(job), capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode:
        sys.exit(f"bench: profiling failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    log(f"profiles in {output}: {result.stdout.strip()}")


def markdown(results: dict) -> str:
    floor = {m["connections"]: m["rps"] for m in results["measurements"]
             if m["scenario"] == "floor"}  # fmt: skip
    lines = [
        f"# Portcullis benchmark — {results['started_at']}",
        "",
        f"Machine: {results['machine']['cpus']} cores, {results['machine']['platform']}, "
        f"Python {results['machine']['python']}. Serving stack: `{results['stack']}` "
        f"({results['stack_command']}). Reference: `{results['reference_command']}`. "
        f"Each row: {results['rounds']} round(s) of the floor for {results['floor_seconds']} s "
        f"then the scenario for {results['seconds']} s, after a warm-up; load by wrk, one thread "
        f"(its ceiling on a trivial endpoint: {results['generator_ceiling_rps']:,.0f} req/s).",
        "",
        "| scenario | conns | req/s | floor req/s | ratio to floor | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    titles = results["titles"]
    for m in results["measurements"]:
        rate = f"{m['rps']:,.0f}"
        if m["flows"]:
            rate += f" ({m['flows_per_s']:,.0f} flows/s)"
        ratio = "" if m["ratio"] is None else f"{m['ratio']:.2f}"
        floor_rps = f"{m['floor_rps']:,.0f}" if m.get("floor_rps") else ""
        lines.append(
            f"| {titles[m['scenario']]} | {m['connections']} | {rate} | {floor_rps} | {ratio} | "
            f"{m['p50_ms']:.1f} | {m['p99_ms']:.1f} | {m['errors']} |"
        )
    lines += ["", "A ratio is req/s (flows/s for the code flow) over the floor's req/s at the "
              "same concurrency measured just before, the median of the row's rounds; req/s "
              "and latency are over all its rounds, the floor column is the rounds' median.",
              ""]  # fmt: skip
    if results.get("targets"):
        lines += ["## Targets at 8 connections", "", "| target | wanted | measured | met |",
                  "|---|---:|---:|---|"]  # fmt: skip
        for t in results["targets"]:
            lines.append(f"| {t['what']} | {t['wanted']} | {t['measured']} | "
                         f"{'yes' if t['met'] else '**no**'} |")  # fmt: skip
        lines.append("")
    hasher = results["hasher"]
    lines.append(
        f"Password hasher: {hasher['algorithm']}, {hasher['check_ms']} ms per check on one "
        f"core. ID tokens verified from the code flow: {results['id_tokens_verified']}."
        + (f" Floor at 8 connections: {floor[8]:,.0f} req/s." if 8 in floor else "")
    )
    return "\n".join(lines) + "\n"


def check_targets(measurements: list[Measurement]) -> list[dict]:
    at = {m.scenario: m for m in measurements if m.connections == TARGET_CONNECTIONS}
    checks = []
    for name, wanted in TARGETS.items():
        if name in at:
            measured = at[name].ratio or 0.0
            checks.append({"what": f"{name} ratio", "wanted": f">= {wanted}",
                           "measured": f"{measured:.2f}", "met": measured >= wanted})  # fmt: skip
    for name, m in at.items():
        if name in P99_EXEMPT or name == "floor":
            continue
        checks.append({"what": f"{name} p99", "wanted": f"<= {P99_LIMIT_MS:.0f} ms",
                       "measured": f"{m.p99_ms:.1f} ms",
                       "met": m.p99_ms <= P99_LIMIT_MS})  # fmt: skip
    return checks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true",
                        help="2 s a scenario, no speed thresholds (CI)")  # fmt: skip
    parser.add_argument("--seconds", type=float,
                        help="seconds of a scenario per round (default 4)")  # fmt: skip
    parser.add_argument("--rounds", type=int,
                        help="rounds per row, each after the floor (default 3)")  # fmt: skip
    parser.add_argument("--stack", choices=sorted(STACKS), default="production")
    parser.add_argument("--workers", type=int, default=0,
                        help="web workers (default: the stack's own)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=0,
                        help="threads per worker (default 1, gthread 4)")  # fmt: skip
    parser.add_argument("--only", help="comma-separated scenarios (floor always runs)")
    parser.add_argument("--connections", default=",".join(map(str, CONNECTIONS)))
    parser.add_argument("--output", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (environment, logs)")  # fmt: skip
    parser.add_argument("--profile", action="store_true",
                        help="also write a pyinstrument profile of token requests")  # fmt: skip
    args = parser.parse_args()
    seconds = args.seconds or (2.0 if args.smoke else 4.0)
    rounds = args.rounds or (1 if args.smoke else 3)
    warmup = 1.0 if args.smoke else 3.0
    floor_seconds = seconds if args.smoke else 2.0
    connections = [int(c) for c in args.connections.split(",")]

    wrk = ensure_wrk()
    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portcullis_bench"
    )
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    fresh_database(database_url)
    fresh_redis(redis_url)

    workdir = Path(tempfile.mkdtemp(prefix="portcullis-bench-"))
    port, ref_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "BENCH_"))},
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "IDP_ISSUER": issuer,
        "IDP_KEY_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "IDP_DATA_DIR": str(workdir / "data"),
        "STATIC_ROOT": str(workdir / "static"),
        "CELERY_TASK_ALWAYS_EAGER": "1",  # no worker in this run; no scenario enqueues work
        "VENV": str(VENV_BIN.parent),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "GUNICORN_ACCESS_LOG": str(workdir / "access.log"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"

    log(f"provisioning (database {urlsplit(database_url).path.lstrip('/')}, work dir {workdir})")
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    users = 48
    data = provision(env, workdir, users)
    (workdir / "env.json").write_text(json.dumps(env))
    (workdir / "clients.json").write_text(json.dumps(data, default=str))

    if STACKS[args.stack] is None:
        stack_command = [str(ROOT / "docker" / "entrypoint.sh"), "web"]
    else:
        workers = str(args.workers or 4)
        threads = str(args.threads or (4 if args.stack == "gunicorn-gthread" else 1))
        stack_command = [part.format(workers=workers, threads=threads, port=port)
                         for part in STACKS[args.stack]]  # fmt: skip
        stack_command[0] = str(VENV_BIN / stack_command[0])
    reference_command = [str(VENV_BIN / "gunicorn"), "-w", "2", "-k", "sync",
                         "-b", f"127.0.0.1:{ref_port}", "idp.wsgi"]  # fmt: skip
    servers = []
    try:
        ours = start_server("portcullis", stack_command, env, port, workdir)
        servers.append(ours)
        reference = start_server("reference", reference_command, env, ref_port, workdir)
        servers.append(reference)
        log(f"Portcullis ({args.stack}) on {ours.url}, reference on {reference.url}")

        rp = rp_of(data["rp"], "openid profile email offline_access")
        browser = Browser(issuer, rp, data["email"], data["password"])
        cc_rs, cc_es = rp_of(data["cc"]["RS256"]), rp_of(data["cc"]["ES256"])
        api = rp_of(data["api"])
        pkce_file = workdir / "pkce.txt"
        pkce_file.write_text("".join(" ".join(pkce_pair()) + "\n" for _ in range(512)))
        samples_file = workdir / "id_tokens.jsonl"
        samples_file.unlink(missing_ok=True)

        csrf_session = requests.Session()
        csrf_page = csrf_session.get(f"{issuer}/login", timeout=HTTP_TIMEOUT)
        parser_ = _Forms()
        parser_.feed(csrf_page.text)
        csrf_token = next(f["fields"]["csrfmiddlewaretoken"] for f in parser_.forms
                          if "csrfmiddlewaretoken" in f["fields"])  # fmt: skip
        csrf_cookie = "; ".join(f"{c.name}={c.value}" for c in csrf_session.cookies)

        def fresh_access_token(_connections: int) -> dict:
            return {"BENCH_HEADERS": f"Authorization: Bearer {browser.tokens()['access_token']}"}

        def fresh_introspection(_connections: int) -> dict:
            token = browser.tokens()["access_token"]
            return {"BENCH_HEADERS": f"Authorization: {api.basic}",
                    "BENCH_BODY": f"token={token}"}  # fmt: skip

        def fresh_pool(connections: int) -> dict:
            pool = workdir / f"pool-{connections}.txt"
            size = max(2 * connections, 8)
            pool.write_text("".join(browser.tokens()["refresh_token"] + "\n"
                                    for _ in range(size)))  # fmt: skip
            return {"BENCH_POOL": str(pool)}

        token_body = "grant_type=client_credentials"
        scenarios = [
            Scenario("floor", "floor: /healthz, reference deployment", "static.lua", "/healthz",
                     env={"BENCH_CONTAINS": '"ok"'}, server="reference"),
            Scenario("discovery", "discovery document", "static.lua",
                     "/.well-known/openid-configuration",
                     env={"BENCH_CONTAINS": '"jwks_uri"'}),
            Scenario("jwks", "JWKS", "static.lua", "/jwks.json",
                     env={"BENCH_CONTAINS": '"keys"'}),
            Scenario("cc_rs256", "client_credentials, RS256 JWT", "static.lua", "/token",
                     env={"BENCH_METHOD": "POST", "BENCH_BODY": token_body,
                          "BENCH_HEADERS": f"Authorization: {cc_rs.basic}",
                          "BENCH_CONTAINS": '"access_token"'}),
            Scenario("cc_es256", "client_credentials, ES256 JWT", "static.lua", "/token",
                     env={"BENCH_METHOD": "POST", "BENCH_BODY": token_body,
                          "BENCH_HEADERS": f"Authorization: {cc_es.basic}",
                          "BENCH_CONTAINS": '"access_token"'}),
            Scenario("refresh", "refresh_token with rotation", "refresh.lua", "/token",
                     env={"BENCH_HEADERS": f"Authorization: {rp.basic}"}, prepare=fresh_pool),
            Scenario("code_flow", "code flow + PKCE (authorize, token)", "code_flow.lua",
                     "/authorize", rate_key="flows_per_s",
                     env={"BENCH_PKCE": str(pkce_file), "BENCH_SAMPLES": str(samples_file),
                          "BENCH_AUTHORIZE_PATH": rp.authorize_path(),
                          "BENCH_REDIRECT_URI_ENCODED": quote(REDIRECT_URI, safe=""),
                          "BENCH_COOKIE": browser.cookie_header,
                          "BENCH_HEADERS": f"Authorization: {rp.basic}"}),
            Scenario("userinfo", "userinfo (GET, bearer)", "static.lua", "/userinfo",
                     env={"BENCH_CONTAINS": '"sub"'}, prepare=fresh_access_token),
            Scenario("introspection", "introspection", "static.lua", "/introspect",
                     env={"BENCH_METHOD": "POST", "BENCH_CONTAINS": '"active":true'},
                     prepare=fresh_introspection),
            Scenario("login", "password sign-in", "login.lua", "/login",
                     env={"BENCH_USERS": str(data["users_file"]),
                          "BENCH_CSRF_TOKEN": csrf_token,
                          "BENCH_HEADERS": f"Cookie: {csrf_cookie}"}),
        ]  # fmt: skip
        if args.only:
            wanted = {"floor", *args.only.split(",")}
            scenarios = [s for s in scenarios if s.name in wanted]

        measurements: list[Measurement] = []
        floor_scenario = scenarios[0]
        for scenario in scenarios:
            server = reference if scenario.server == "reference" else ours
            prepare = scenario.prepare or (lambda _c: {})
            settle_database(env["DATABASE_URL"])
            log(f"{scenario.name}: warm-up")
            run_wrk(wrk, server.url, scenario, 8, warmup, workdir, prepare(8))
            for c in connections:
                # Interleaved rounds: the floor, then the scenario, `rounds` times. A ratio
                # compares two measurements made seconds apart, and the row's ratio is the
                # median of its rounds': this machine's speed drifts within a minute.
                parts, floors = [], []
                for _ in range(rounds):
                    if scenario is not floor_scenario:
                        floors.append(run_wrk(wrk, reference.url, floor_scenario, c,
                                              floor_seconds, workdir, {}))  # fmt: skip
                    parts.append(run_wrk(wrk, server.url, scenario, c, seconds, workdir,
                                         prepare(c)))  # fmt: skip
                measurements.extend(f for f in floors if f.errors)
                m = combine(parts)
                if scenario is floor_scenario:
                    m.floor_rps = m.rps
                    m.ratio = 1.0
                else:
                    m.rounds = [
                        {"rate": getattr(p, scenario.rate_key), "floor_rps": f.rps,
                         "ratio": round(getattr(p, scenario.rate_key) / f.rps, 3)}
                        for p, f in zip(parts, floors, strict=True) if f.rps
                    ]  # fmt: skip
                    if m.rounds:
                        m.ratio = round(statistics.median(r["ratio"] for r in m.rounds), 3)
                        m.floor_rps = round(statistics.median(f.rps for f in floors), 1)
                measurements.append(m)
                log(f"{scenario.name} c={c}: {m.rps:,.0f} req/s"
                    + (f" ({m.flows_per_s:,.0f} flows/s)" if m.flows else "")
                    + f", p50 {m.p50_ms} ms, p99 {m.p99_ms} ms, errors {m.errors}"
                    + (f" {m.error_detail}" if m.errors else "")
                    + (f"; ratio {m.ratio} (rounds {[r['ratio'] for r in m.rounds]})"
                       if m.rounds else "")
                    + f"; CPU ms/request {m.cpu_ms_per_request}")  # fmt: skip
        verified = verify_samples(samples_file, issuer, rp.client_id)
        log(f"verified {verified} sampled ID tokens")
        if any(s.name == "code_flow" for s in scenarios) and not verified:
            sys.exit("bench: no ID token from the code flow was verified")
        ceiling = generator_ceiling(wrk, min(seconds, 5.0), workdir)
        log(f"generator ceiling (trivial endpoint, 32 connections): {ceiling:,.0f} req/s")
        hasher = hasher_cost(env)
        if args.profile:
            profile(env, browser, cc_rs, api, args.output, port)
    finally:
        for server in servers:
            server.stop()

    errors = [m for m in measurements if m.errors]
    targets = [] if args.smoke else check_targets(measurements)
    results = {
        "started_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "smoke" if args.smoke else "full",
        "stack": args.stack,
        "stack_command": " ".join(
            Path(stack_command[0]).name if i == 0 else p for i, p in enumerate(stack_command)
        ),  # fmt: skip
        "reference_command": "gunicorn -w 2 -k sync idp.wsgi",
        "seconds": seconds,
        "rounds": rounds,
        "floor_seconds": floor_seconds,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },  # fmt: skip
        "generator_ceiling_rps": ceiling,
        "hasher": hasher,
        "id_tokens_verified": verified,
        "titles": {s.name: s.title for s in scenarios},
        "measurements": [asdict(m) for m in measurements],
        "targets": targets,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    stem = f"{results['mode']}-{args.stack}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    table = markdown(results)
    (args.output / f"{stem}.md").write_text(table)
    (args.output / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table)
    log(f"written: {args.output / stem}.md and .json")
    if args.keep:
        log(f"kept {workdir}")
    elif not errors:
        shutil.rmtree(workdir, ignore_errors=True)
    if errors:
        log("FAILED: " + ", ".join(f"{m.scenario} c={m.connections}" for m in errors)
            + " had errors")  # fmt: skip
        return 1
    missed = [t for t in targets if not t["met"]]
    if missed:
        log("targets missed: " + ", ".join(t["what"] for t in missed))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
