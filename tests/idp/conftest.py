"""Fixtures for the authorization server: a relying party, a signed-in browser, PKCE."""

import base64
import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.db import connection

from clients import services as client_services

REDIRECT_URI = "https://rp.example/callback"

# For tests of what only PostgreSQL has (its health check, synchronous_commit).
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")


def sql_value(sql: str, params: list | None = None):
    """The first column of the first row `sql` returns, on the test's connection."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def run_concurrently(target, workers: int = 4) -> list[BaseException]:
    """Start `workers` threads (each with its own database connection) at one barrier."""
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait(timeout=30)
            target()
        except BaseException as exc:  # noqa: BLE001  (reported to the test below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


@dataclass
class RP:
    client: object
    secret: str | None
    redirect_uri: str = REDIRECT_URI
    verifier: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def client_id(self) -> str:
        return self.client.client_id

    def authorize_params(self, **overrides) -> dict:
        self.verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile email",
            "state": "st-" + secrets.token_urlsafe(8),
            "nonce": "n-" + secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def token_request(self, code: str, **overrides) -> dict:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
        }
        data.update(overrides)
        return {k: v for k, v in data.items() if v is not None}

    def redeem(self, http, code: str, *, auth: str = "basic", **overrides):
        """POST the token request as an RP would (form-encoded, Basic auth by default)."""
        data = self.token_request(code, **overrides)
        headers = {}
        if auth == "basic":
            headers = self.basic_auth()
        elif auth == "post":
            data.update(client_id=self.client_id, client_secret=self.secret)
        elif auth == "none":
            data["client_id"] = self.client_id
        return http.post(
            "/token", urlencode(data), content_type="application/x-www-form-urlencoded", **headers
        )

    def basic_auth(self) -> dict:
        raw = f"{self.client_id}:{self.secret}".encode()
        return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(raw).decode()}


def make_rp(**attributes) -> RP:
    attributes.setdefault("redirect_uris", [REDIRECT_URI])
    attributes.setdefault("name", "Example RP")
    client, secret = client_services.client_create(**attributes)
    return RP(client=client, secret=secret, redirect_uri=attributes["redirect_uris"][0])


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def fragment_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}
