"""Real relying-party libraries complete the authorization-code flow with PKCE against a live
Portcullis, with their default (strict) validation, for RS256, ES256 and EdDSA ID tokens.

* Authlib's requests client (Python), with the ID token checked by joserfc against the JWKS.
* panva's openid-client v6 (Node), which checks everything itself: tests/rp/openid_client_rp.mjs;
  it also completes RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).

The "browser" is a requests.Session following redirects by hand, submitting the real login
and consent forms (with their CSRF tokens) as a person would.
"""

import base64
import hashlib
import json
import os
import queue
import secrets
import shutil
import subprocess
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.factories import PASSWORD, UserFactory
from tests.idp.conftest import make_rp

pytestmark = pytest.mark.django_db(transaction=True)

REDIRECT_URI = "http://127.0.0.1:9/callback"  # loopback: never contacted, only read from Location
POST_LOGOUT_REDIRECT_URI = "http://127.0.0.1:9/logged-out"  # likewise
ALGS = ["RS256", "ES256", "EdDSA"]
HTTP_TIMEOUT = 10  # seconds, for every HTTP request the tests make
NODE_TIMEOUT = 30  # seconds, for every line read from the Node relying party
MAX_HOPS = 12

RP_DIR = Path(__file__).resolve().parents[1] / "rp"
RP_SCRIPT = RP_DIR / "openid_client_rp.mjs"


# --- the browser ---


class _Forms(HTMLParser):
    """The forms on a page: action, method, and the named inputs and submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "action": attributes.get("action", ""),
                    "method": attributes.get("method", "get").lower(),
                    "fields": {},
                    "buttons": [],
                }
            )
        elif self.forms and tag in {"input", "button"} and attributes.get("name"):
            form = self.forms[-1]
            kind = attributes.get("type", "submit" if tag == "button" else "text")
            if kind == "submit":
                form["buttons"].append((attributes["name"], attributes.get("value", "")))
            else:
                form["fields"][attributes["name"]] = attributes.get("value", "")


def _form(html: str, action_path: str) -> dict:
    parser = _Forms()
    parser.feed(html)
    for form in parser.forms:
        if urlsplit(form["action"]).path == action_path and form["method"] == "post":
            return form
    raise AssertionError(f"no POST form to {action_path} on the page:\n{html[:2000]}")


def drive_browser(
    session: requests.Session,
    authorization_url: str,
    email: str,
    password: str,
    *,
    redirect_uri: str = REDIRECT_URI,
    expect_consent: bool = False,
) -> str:
    """Act as the user agent: follow the authorization URL through sign-in (and consent, when
    asked) until the server redirects to `redirect_uri`. Returns that callback URL."""
    url = authorization_url
    signed_in = consented = False
    response = session.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
    for _ in range(MAX_HOPS):
        if response.is_redirect:
            location = urljoin(url, response.headers["Location"])
            if location.startswith(redirect_uri + "?"):
                assert signed_in, "the server answered without signing the user in"
                assert consented == expect_consent, (
                    f"consent page {'not ' if expect_consent else ''}shown"
                )
                return location
            url = location
            response = session.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
            continue

        assert response.status_code == 200, (
            f"GET {url} -> {response.status_code}:\n{response.text[:2000]}"
        )
        path = urlsplit(url).path
        if path == "/login":
            assert not signed_in, "asked to sign in twice"
            form = _form(response.text, "/login")
            next_value = parse_qs(urlsplit(url).query)["next"][0]
            assert form["fields"].get("next") == next_value
            data = {
                "csrfmiddlewaretoken": form["fields"]["csrfmiddlewaretoken"],
                "email": email,
                "password": password,
                "next": next_value,
            }
            signed_in = True
        elif path == "/authorize/continue":
            assert not consented, "asked to consent twice"
            form = _form(response.text, "/authorize/continue")
            assert ("decision", "approve") in form["buttons"], form
            assert ("decision", "deny") in form["buttons"], form
            data = {
                "csrfmiddlewaretoken": form["fields"]["csrfmiddlewaretoken"],
                "request": form["fields"]["request"],
                "decision": "approve",
            }
            consented = True
        else:
            raise AssertionError(f"unexpected page {url}:\n{response.text[:2000]}")
        target = urljoin(url, form["action"])
        response = session.post(
            target, data=data, headers={"Referer": url}, allow_redirects=False,
            timeout=HTTP_TIMEOUT,
        )  # fmt: skip
        assert response.is_redirect, (
            f"POST {target} -> {response.status_code}:\n{response.text[:2000]}"
        )
        url = target
    raise AssertionError(f"no redirect to {redirect_uri} after {MAX_HOPS} hops (last: {url})")


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _half_hash(value: str, alg: str) -> str:
    """OIDC Core §3.1.3.6 at_hash, computed independently of the server: SHA-256 for RS256
    and ES256; SHA-512 for EdDSA over Ed25519, as oauth4webapi (openid-client) does."""
    digest = hashlib.new("sha512" if alg == "EdDSA" else "sha256", value.encode()).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


@pytest.fixture
def sessions():
    """Make HTTP sessions (requests.Session or a subclass) that are closed after the test:
    a kept-alive connection would hold the live server's request thread, and with it a
    database connection, past the end of the run."""
    made: list[requests.Session] = []

    def make(cls=requests.Session, **kwargs) -> requests.Session:
        made.append(cls(**kwargs))
        return made[-1]

    yield make
    for session in made:
        session.close()


# --- Authlib (Python) ---


@pytest.mark.parametrize("alg", ALGS)
def test_authlib_client_completes_the_code_flow(live_issuer, sessions, alg):
    user = UserFactory()
    rp = make_rp(redirect_uris=[REDIRECT_URI], id_token_signed_response_alg=alg, skip_consent=True)

    http = sessions()
    metadata = http.get(
        f"{live_issuer}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT
    ).json()
    assert metadata["issuer"] == live_issuer
    assert alg in metadata["id_token_signing_alg_values_supported"]

    oauth = sessions(
        OAuth2Session,
        client_id=rp.client_id,
        client_secret=rp.secret,
        token_endpoint_auth_method="client_secret_basic",
        scope="openid profile email",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        default_timeout=HTTP_TIMEOUT,
    )
    nonce = secrets.token_urlsafe(16)
    code_verifier = secrets.token_urlsafe(48)
    authorization_url, state = oauth.create_authorization_url(
        metadata["authorization_endpoint"], nonce=nonce, code_verifier=code_verifier
    )
    assert "code_challenge=" in authorization_url

    callback_url = drive_browser(sessions(), authorization_url, user.email, PASSWORD)
    callback = _query(callback_url)
    assert callback["state"] == state
    assert callback["iss"] == live_issuer  # RFC 9207, checked by hand: Authlib does not

    token = oauth.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback_url,
        code_verifier=code_verifier,
        timeout=HTTP_TIMEOUT,
    )
    assert token["token_type"].lower() == "bearer"

    jwks = http.get(metadata["jwks_uri"], timeout=HTTP_TIMEOUT).json()
    id_token = jwt.decode(token["id_token"], KeySet.import_key_set(jwks), algorithms=[alg])
    assert id_token.header["alg"] == alg
    assert id_token.header["kid"] in {key["kid"] for key in jwks["keys"]}
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": live_issuer},
        aud={"essential": True, "value": rp.client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
        at_hash={"essential": True, "value": _half_hash(token["access_token"], alg)},
    ).validate(id_token.claims)
    claims = id_token.claims
    assert claims["exp"] > time.time()
    if isinstance(claims["aud"], list):
        assert claims.get("azp") == rp.client_id

    userinfo = oauth.get(metadata["userinfo_endpoint"], timeout=HTTP_TIMEOUT)
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.headers["Content-Type"].startswith("application/json")
    assert userinfo.json()["sub"] == claims["sub"]
    assert userinfo.json()["email"] == user.email


# --- openid-client (Node) ---


class NodeRP:
    """tests/rp/openid_client_rp.mjs as a subprocess, one JSON line at a time, every read
    bounded; stderr is collected for failure messages."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            ["node", str(RP_SCRIPT), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "RP_TIMEOUT": str(HTTP_TIMEOUT), **(env or {})},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        threading.Thread(target=self._pump_stderr, daemon=True).start()

    def _pump_stdout(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _pump_stderr(self) -> None:
        for line in self.process.stderr:
            self.stderr.append(line)

    def read(self) -> dict:
        try:
            line = self.lines.get(timeout=NODE_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no output from openid-client in {NODE_TIMEOUT}s") from None
        if line is None:
            try:
                code = self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            time.sleep(0.1)  # let the stderr pump finish
            raise AssertionError(
                f"openid-client exited with status {code}:\n{''.join(self.stderr)}"
            )
        return json.loads(line)

    def write(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            stream.close()


@pytest.fixture
def node_rp():
    if shutil.which("node") is None:
        pytest.skip("node is not on PATH: install Node.js 20+ to run the openid-client tests")
    if not (RP_DIR / "node_modules" / "openid-client").is_dir():
        pytest.skip("tests/rp/node_modules is missing: run `make install-dev`")
    started: list[NodeRP] = []

    def start(*args: str, env: dict[str, str] | None = None) -> NodeRP:
        started.append(NodeRP(*args, env=env))
        return started[-1]

    yield start
    for rp in started:
        rp.close()


@pytest.mark.parametrize(
    ("alg", "skip_consent"),
    [
        ("RS256", True),
        ("ES256", True),
        ("EdDSA", True),
        pytest.param("ES256", False, id="ES256-with-consent"),
    ],
)
def test_openid_client_completes_the_code_flow(live_issuer, sessions, node_rp, alg, skip_consent):
    user = UserFactory()
    rp = make_rp(
        redirect_uris=[REDIRECT_URI], id_token_signed_response_alg=alg, skip_consent=skip_consent
    )

    node = node_rp(live_issuer, rp.client_id, rp.secret, REDIRECT_URI, alg)
    authorization_url = node.read()["authorization_url"]
    sent = _query(authorization_url)
    assert sent["code_challenge_method"] == "S256"
    assert sent["nonce"]
    assert sent["state"]

    callback_url = drive_browser(
        sessions(),
        authorization_url,
        user.email,
        PASSWORD,
        expect_consent=not skip_consent,
    )
    node.write(callback_url)
    result = node.read()
    assert node.process.wait(timeout=NODE_TIMEOUT) == 0, "".join(node.stderr)

    claims, userinfo = result["claims"], result["userinfo"]
    assert result["id_token_header_alg"] == alg
    assert claims["iss"] == live_issuer
    assert claims["aud"] == rp.client_id or rp.client_id in claims["aud"]
    assert claims["nonce"] == sent["nonce"]
    assert claims["sub"] == userinfo["sub"]
    assert userinfo["email"] == user.email


def test_openid_client_completes_rp_initiated_logout(live_issuer, sessions, node_rp):
    """RP-Initiated Logout 1.0 driven by openid-client: its buildEndSessionUrl (with the ID
    token it just received as id_token_hint) signs the browser out at once, since the hint
    belongs to this very sign-in, and comes back to the registered post_logout_redirect_uri
    with the RP's state; the sign-in session is then really over."""
    user = UserFactory()
    rp = make_rp(
        skip_consent=True,
        redirect_uris=[REDIRECT_URI],
        post_logout_redirect_uris=[POST_LOGOUT_REDIRECT_URI],
    )
    http = sessions()
    metadata = http.get(
        f"{live_issuer}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT
    ).json()
    assert metadata["end_session_endpoint"] == f"{live_issuer}/end-session"

    node = node_rp(
        live_issuer,
        rp.client_id,
        rp.secret,
        REDIRECT_URI,
        env={"RP_POST_LOGOUT_REDIRECT_URI": POST_LOGOUT_REDIRECT_URI},
    )
    authorization_url = node.read()["authorization_url"]
    browser = sessions()
    callback_url = drive_browser(browser, authorization_url, user.email, PASSWORD)
    node.write(callback_url)
    result = node.read()
    assert result["userinfo"]["email"] == user.email
    logout = node.read()
    assert node.process.wait(timeout=NODE_TIMEOUT) == 0, "".join(node.stderr)

    end_session_url = logout["end_session_url"]
    sent = _query(end_session_url)
    assert end_session_url.startswith(metadata["end_session_endpoint"] + "?")
    assert sent["post_logout_redirect_uri"] == POST_LOGOUT_REDIRECT_URI
    assert sent["state"] == logout["state"]
    assert sent["id_token_hint"]

    def authorize_silently() -> dict[str, str]:
        """A prompt=none authorization request from the same browser: the callback query."""
        params = rp.authorize_params(scope="openid", prompt="none")
        url = f"{metadata['authorization_endpoint']}?{urlencode(params)}"
        response = browser.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT)
        assert response.is_redirect, f"GET {url} -> {response.status_code}:\n{response.text[:2000]}"
        location = urljoin(url, response.headers["Location"])
        assert location.startswith(REDIRECT_URI + "?"), location
        callback = _query(location)
        assert callback["state"] == params["state"]
        return callback

    # Control: before the logout, the browser is signed in.
    assert "code" in authorize_silently()
    account = browser.get(f"{live_issuer}/account", allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert account.status_code == 200, account.status_code

    response = browser.get(end_session_url, allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert response.status_code == 302, (
        f"GET {end_session_url} -> {response.status_code} {dict(response.headers)}:\n"
        f"{response.text[:2000]}"
    )
    location = response.headers["Location"]
    assert location.split("?", 1)[0] == POST_LOGOUT_REDIRECT_URI, location
    assert parse_qs(urlsplit(location).query, keep_blank_values=True) == {
        "state": [logout["state"]]
    }, location

    # The sign-in session is over: no silent sign-in, and the account page asks to sign in.
    callback = authorize_silently()
    assert callback["error"] == "login_required", callback
    assert "code" not in callback
    account = browser.get(f"{live_issuer}/account", allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert account.is_redirect, f"GET /account -> {account.status_code}"
    assert urlsplit(urljoin(account.url, account.headers["Location"])).path == "/login"
