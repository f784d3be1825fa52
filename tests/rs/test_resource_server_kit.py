"""portcullis_rs: a resource server verifies our access tokens on its own, across key
rotation, against a live Portcullis."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import time_machine
from django.http import JsonResponse
from django.test import RequestFactory, override_settings

from idp.models import SigningKey
from idp.services import keys
from portcullis_rs import InvalidToken, Verifier
from tests.idp.conftest import make_rp

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


class CountingSession(requests.Session):
    """Counts the calls the resource server makes to Portcullis."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def request(self, method, url, *args, **kwargs):
        self.calls.append(url)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def service(live_issuer):
    return make_rp(
        name="Batch", grant_types=["client_credentials"], response_types=[],
        redirect_uris=["https://unused.example/cb"], scopes=["profile"],
    )  # fmt: skip


def access_token(issuer: str, service, **extra) -> str:
    response = requests.post(
        f"{issuer}/token",
        data={"grant_type": "client_credentials", **extra},
        auth=(service.client_id, service.secret),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


class Clock:
    """The resource server's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def kid_of(token: str) -> str:
    from joserfc.jws import extract_compact

    return extract_compact(token.encode()).headers()["kid"]


def verifier_for(issuer: str, **options) -> Verifier:
    return Verifier(issuer=issuer, audience=issuer, session=CountingSession(), **options)


def test_fresh_token_verifies_without_calling_portcullis_again(live_issuer, service):
    verifier = verifier_for(live_issuer)
    token = access_token(live_issuer, service)

    claims = verifier.verify(token)
    calls_after_first = len(verifier.session.calls)
    for _ in range(20):
        verifier.verify(token)

    assert claims["client_id"] == service.client_id
    assert claims["scope"] == "profile"
    assert calls_after_first == 2  # discovery + JWKS, once
    assert len(verifier.session.calls) == calls_after_first


def test_token_is_rejected_after_it_expires(live_issuer, service):
    verifier = verifier_for(live_issuer, leeway=5)
    token = access_token(live_issuer, service)
    verifier.verify(token)

    with (
        time_machine.travel(time.time() + 600 + 6, tick=False),
        pytest.raises(InvalidToken, match="Expired"),
    ):
        verifier.verify(token)


def test_required_scopes(live_issuer, service):
    verifier = verifier_for(live_issuer)
    token = access_token(live_issuer, service)

    verifier.verify(token, required_scopes=["profile"])
    with pytest.raises(InvalidToken, match="Missing scope"):
        verifier.verify(token, required_scopes=["orders:write"])


def test_zero_rejected_valid_tokens_across_a_scheduled_rotation(live_issuer, service):
    """The next key is published two days before it signs; the resource server's cached
    JWKS (max-age one hour) has long learnt it by then, so no token is ever rejected and
    no refetch is forced by an unknown kid."""
    clock = Clock()
    verifier = verifier_for(live_issuer, clock=clock)
    interval = keys.idp_settings.KEY_ROTATION_INTERVAL
    prepublish = keys.idp_settings.KEY_PREPUBLISH_PERIOD
    signed = []

    verifier.verify(token := access_token(live_issuer, service))
    signed.append(token)
    start = SigningKey.objects.get(alg="RS256", state="active").activated_at
    keys.signing_key_rotate(now=start + interval - prepublish)  # next key published
    verifier.verify(token := access_token(live_issuer, service))
    signed.append(token)
    clock.now += 3601  # an hour on: the cached JWKS is refreshed, next key included
    verifier.verify(token := access_token(live_issuer, service))
    signed.append(token)
    keys.signing_key_rotate(now=start + interval)  # promoted: it signs from now on
    after = access_token(live_issuer, service)
    for token in [*signed, after]:
        assert verifier.verify(token)["client_id"] == service.client_id

    assert kid_of(after) != kid_of(signed[0])  # the rotation really happened
    assert verifier._forced_at == float("-inf")  # never needed an unknown-kid refetch


def test_an_emergency_rotation_is_picked_up_by_one_refetch(live_issuer, service):
    verifier = verifier_for(live_issuer)
    verifier.verify(access_token(live_issuer, service))

    keys.signing_key_rotate(force=True)

    assert verifier.verify(access_token(live_issuer, service))
    assert len(verifier.session.calls) == 3  # discovery, JWKS, one refetch


def test_unknown_kid_refetches_are_rate_limited(live_issuer, service):
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    clock = Clock()
    verifier = verifier_for(live_issuer, clock=clock, refetch_interval=60)
    verifier.verify(access_token(live_issuer, service))
    junk = [jwt.encode({"alg": "RS256", "kid": f"made-up-{i}", "typ": "at+jwt"}, {"sub": "x"},
                       RSAKey.generate_key(2048)) for i in range(5)]  # fmt: skip

    for token in junk:
        with pytest.raises(InvalidToken, match="unknown key"):
            verifier.verify(token)
    assert len(verifier.session.calls) == 3  # one refetch for five unknown kids
    clock.now += 61
    with pytest.raises(InvalidToken):
        verifier.verify(junk[0])
    assert len(verifier.session.calls) == 4


def test_revoked_key_is_rejected_after_refetch(live_issuer, service):
    token = access_token(live_issuer, service)
    keys.signing_key_revoke(kid=keys.key_ring().active["RS256"])

    with pytest.raises(InvalidToken, match="unknown key"):
        verifier_for(live_issuer).verify(token)


def test_id_token_is_not_an_access_token(live_issuer, user):
    from joserfc.jws import extract_compact

    from idp.services.tokens import id_token_issue

    relying_party = make_rp(skip_consent=True)
    context = {"auth_time": int(time.time())}
    id_token = id_token_issue(
        client=relying_party.client, user=user, context=context, access_token=None
    )
    assert extract_compact(id_token.encode()).headers()["typ"] == "JWT"

    with pytest.raises(InvalidToken, match="typ"):
        verifier_for(live_issuer).verify(id_token)


@pytest.mark.parametrize(
    ("options", "reason"),
    [({"audience": "https://other-api.example"}, "audience"),
     ({"algorithms": ["ES256"]}, "Algorithm not allowed")],
)  # fmt: skip
def test_wrong_audience_or_algorithm_is_rejected(live_issuer, service, options, reason):
    token = access_token(live_issuer, service)
    verifier = Verifier(**{"issuer": live_issuer, "audience": live_issuer, **options})

    with pytest.raises(InvalidToken, match=reason):
        verifier.verify(token)


def test_forged_and_malformed_tokens_are_rejected(live_issuer, service):
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    verifier = verifier_for(live_issuer)
    genuine = access_token(live_issuer, service)
    kid = keys.key_ring().active["RS256"]
    claims = verifier.verify(genuine)
    forged = jwt.encode({"alg": "RS256", "kid": kid, "typ": "at+jwt"}, claims,
                        RSAKey.generate_key(2048))  # fmt: skip

    for token in [forged, "", "a.b", "a.b.c", genuine[:-4] + "AAAA", "eyJhbGciOiJub25lIn0.e30."]:
        with pytest.raises(InvalidToken):
            verifier.verify(token)


def test_django_decorator(live_issuer, service):
    from portcullis_rs.django import get_verifier, require_access_token

    @require_access_token("profile")
    def orders(request):
        return JsonResponse({"sub": request.access_token["sub"]})

    token = access_token(live_issuer, service)
    factory = RequestFactory()
    with override_settings(PORTCULLIS_RS={"ISSUER": live_issuer, "AUDIENCE": live_issuer}):
        get_verifier.cache_clear()
        ok = orders(factory.get("/orders", HTTP_AUTHORIZATION=f"Bearer {token}"))
        missing = orders(factory.get("/orders"))
        bad = orders(factory.get("/orders", HTTP_AUTHORIZATION="Bearer nope"))
    get_verifier.cache_clear()

    assert ok.status_code == 200
    assert json.loads(ok.content)["sub"] == service.client_id
    assert missing.status_code == 401
    assert bad.status_code == 401
    assert bad["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_example_resource_server_over_http(live_issuer, service):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "RS_ISSUER": live_issuer, "RS_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "examples/resource_server/app.py"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/orders"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(url, timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)  # waiting for another process to listen
        token = access_token(live_issuer, service)

        ok = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        anonymous = requests.get(url, timeout=10)
        keys.signing_key_rotate(force=True)
        after_rotation = access_token(live_issuer, service)
        rotated = requests.get(url, headers={"Authorization": f"Bearer {after_rotation}"},
                               timeout=10)  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert ok.status_code == 200
    assert ok.json()["client_id"] == service.client_id
    assert anonymous.status_code == 401
    assert rotated.status_code == 200
