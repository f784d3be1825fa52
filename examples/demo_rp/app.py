"""A demo relying party: "Sign in with Portcullis" with Authlib's OAuth 2.0 client.

Standard library WSGI server, in-memory sessions. Run `register.py` first (make run does).
"""

import html
import json
import os
import secrets
import sys
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("IDP_DATA_DIR", ROOT / "var"))
PORT = int(os.environ.get("DEMO_RP_PORT", "8001"))
COOKIE = "demo_rp_session"
SESSIONS: dict[str, dict] = {}


def config() -> dict:
    return json.loads((DATA_DIR / "demo_rp.json").read_text())


def discovery(issuer: str) -> dict:
    return requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()


def page(title: str, body: str) -> bytes:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;
line-height:1.5;color:#1b2330}} .button{{display:inline-block;background:#2f4f8f;color:#fff;
padding:.6rem 1.2rem;border-radius:8px;text-decoration:none;border:0;font:inherit;
cursor:pointer}} pre{{background:#f4f6fa;padding:1rem;border-radius:8px;overflow:auto}}
</style></head><body><p><strong>Demo app</strong> · a relying party of Portcullis</p>
{body}</body></html>""".encode()


def verify_id_token(id_token: str, cfg: dict, meta: dict, nonce: str) -> tuple[dict, dict]:
    """What an RP must check (OIDC Core §3.1.3.7): signature against the JWKS, iss, aud,
    exp, nonce."""
    keys = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=5).json())
    token = jwt.decode(id_token, keys, algorithms=meta["id_token_signing_alg_values_supported"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": cfg["issuer"]},
        aud={"essential": True, "value": cfg["client_id"]},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
    ).validate(token.claims)
    return token.header, token.claims


def app(environ, start_response):
    cfg = config()
    path = environ.get("PATH_INFO", "/")
    cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    sid = cookie[COOKIE].value if COOKIE in cookie else None
    session = SESSIONS.get(sid) if sid else None
    if session is None:
        sid, session = secrets.token_urlsafe(24), {}
        SESSIONS[sid] = session
    set_cookie = ("Set-Cookie", f"{COOKIE}={sid}; HttpOnly; SameSite=Lax; Path=/")

    def respond(status, body=b"", location=None):
        headers = [("Content-Type", "text/html; charset=utf-8"), set_cookie]
        if location:
            headers.append(("Location", location))
        start_response(status, headers)
        return [body]

    meta = discovery(cfg["issuer"])
    oauth = OAuth2Session(
        cfg["client_id"], cfg["client_secret"], scope="openid profile email",
        redirect_uri=cfg["redirect_uri"], code_challenge_method="S256",
    )  # fmt: skip

    if path == "/login":
        verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
        url, state = oauth.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        session.update(state=state, verifier=verifier, nonce=nonce)
        return respond("302 Found", location=url)

    if path == "/callback":
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if "error" in query:
            message = html.escape(f"{query['error']}: {query.get('error_description', '')}")
            return respond("400 Bad Request", page("Sign-in failed", f"<p>{message}</p>"))
        if query.get("state") != session.get("state") or query.get("iss") != cfg["issuer"]:
            return respond("400 Bad Request", page("Sign-in failed", "<p>Bad state or iss.</p>"))
        token = oauth.fetch_token(
            meta["token_endpoint"],
            authorization_response=f"{cfg['redirect_uri']}?{environ['QUERY_STRING']}",
            code_verifier=session.pop("verifier"),
        )
        header, claims = verify_id_token(token["id_token"], cfg, meta, session.pop("nonce"))
        userinfo = requests.get(
            meta["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {token['access_token']}"},
            timeout=5,
        ).json()
        session.update(header=header, claims=claims, userinfo=userinfo,
                       id_token=token["id_token"])  # fmt: skip
        return respond("302 Found", location="/")

    if path == "/logout":
        SESSIONS.pop(sid, None)
        return respond("302 Found", location="/")

    if "claims" in session:
        body = (
            f"<h1>Signed in as {html.escape(str(session['userinfo'].get('email', '')))}</h1>"
            f"<p>The ID token was verified with the {html.escape(session['header']['alg'])} "
            f"key <code>{html.escape(session['header']['kid'])}</code> from the JWKS.</p>"
            "<h2>ID token claims</h2><pre data-testid='claims'>"
            f"{html.escape(json.dumps(session['claims'], indent=2))}</pre>"
            "<h2>Userinfo response</h2><pre data-testid='userinfo'>"
            f"{html.escape(json.dumps(session['userinfo'], indent=2))}</pre>"
            "<p><a class='button' href='/logout'>Sign out</a></p>"
        )
        return respond("200 OK", page("Demo app: signed in", body))
    body = (
        "<h1>Welcome to the demo app</h1><p>This app has no accounts of its own.</p>"
        "<p><a class='button' href='/login'>Sign in with Portcullis</a></p>"
    )
    return respond("200 OK", page("Demo app", body))


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002
        sys.stderr.write("demo-rp: " + (format % args) + "\n")


if __name__ == "__main__":
    with make_server("127.0.0.1", PORT, app, handler_class=QuietHandler) as server:
        print(f"Demo RP on http://127.0.0.1:{PORT}", flush=True)
        server.serve_forever()
