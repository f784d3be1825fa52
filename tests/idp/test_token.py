"""The token endpoint with the authorization_code grant (RFC 6749 §4.1.3, OIDC §3.1.3)."""

import base64
import json
import time
from urllib.parse import urlencode

import pytest
import time_machine
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.conf import idp_settings
from idp.models import Token
from idp.services.tokens import token_hash
from tests.idp.conftest import make_rp, pkce_pair, query_of

pytestmark = pytest.mark.django_db


def get_code(http, relying_party, **params) -> str:
    response = http.get("/authorize", relying_party.authorize_params(**params))
    return query_of(response["Location"])["code"]


def jwks(http) -> KeySet:
    return KeySet.import_key_set(http.get("/jwks.json").json())


def decode(http, token: str):
    return jwt.decode(token, jwks(http), algorithms=["RS256", "ES256", "EdDSA"])


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_code_exchange_returns_signed_tokens(signed_in, user, alg):
    relying_party = make_rp(skip_consent=True, id_token_signed_response_alg=alg)
    params = relying_party.authorize_params()
    code = query_of(signed_in.get("/authorize", params)["Location"])["code"]

    response = relying_party.redeem(signed_in, code)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert body["scope"] == "openid profile email"
    id_token = decode(signed_in, body["id_token"])
    assert id_token.header["alg"] == alg
    assert id_token.header["kid"]
    claims = id_token.claims
    assert claims["iss"] == idp_settings.ISSUER
    assert claims["aud"] == relying_party.client_id
    assert claims["azp"] == relying_party.client_id
    assert claims["sub"] == str(user.subject)
    assert claims["nonce"] == params["nonce"]
    assert claims["amr"] == ["pwd"]
    assert claims["acr"]
    assert claims["sid"]
    assert 0 < claims["exp"] - claims["iat"] <= 600
    assert abs(claims["iat"] - time.time()) < 60
    assert claims["auth_time"] <= claims["iat"]
    assert "email" not in claims  # scope claims go to userinfo when an access token exists
    access = decode(signed_in, body["access_token"])
    assert access.header["typ"] == "at+jwt"
    assert access.claims["client_id"] == relying_party.client_id
    assert access.claims["sub"] == str(user.subject)
    assert access.claims["scope"] == "openid profile email"
    assert {"iss", "aud", "exp", "iat", "jti"} <= set(access.claims)


def test_at_hash_matches_the_access_token(signed_in, rp):
    from authlib.oidc.core.util import create_half_hash

    body = rp.redeem(signed_in, get_code(signed_in, rp)).json()

    claims = decode(signed_in, body["id_token"]).claims
    assert claims["at_hash"] == create_half_hash(body["access_token"], "RS256").decode()


def test_id_token_carries_claims_requested_for_it(signed_in, rp, user):
    claims_request = json.dumps({"id_token": {"email": {"essential": True}, "name": None}})

    body = rp.redeem(signed_in, get_code(signed_in, rp, claims=claims_request)).json()

    claims = decode(signed_in, body["id_token"]).claims
    assert claims["email"] == user.email
    assert claims["name"] == "Ada Lovelace"


def test_client_secret_post_authentication(signed_in):
    relying_party = make_rp(skip_consent=True, token_endpoint_auth_method="client_secret_post")

    response = relying_party.redeem(signed_in, get_code(signed_in, relying_party), auth="post")

    assert response.status_code == 200


def test_public_client_authenticates_with_pkce_only(signed_in):
    public = make_rp(skip_consent=True, client_type="public")

    response = public.redeem(signed_in, get_code(signed_in, public), auth="none")

    assert response.status_code == 200
    assert "id_token" in response.json()


def test_public_client_with_a_wrong_verifier_gets_invalid_grant(signed_in):
    public = make_rp(skip_consent=True, client_type="public")
    code = get_code(signed_in, public)

    response = public.redeem(signed_in, code, auth="none", code_verifier=pkce_pair()[0])

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_confidential_client_without_pkce_when_not_required(signed_in):
    relaxed = make_rp(skip_consent=True, require_pkce=False)
    code = get_code(signed_in, relaxed, code_challenge=None, code_challenge_method=None)

    response = relaxed.redeem(signed_in, code, code_verifier=None)

    assert response.status_code == 200


def test_verifier_without_challenge_is_refused(signed_in):
    relaxed = make_rp(skip_consent=True, require_pkce=False)
    code = get_code(signed_in, relaxed, code_challenge=None, code_challenge_method=None)

    response = relaxed.redeem(signed_in, code, code_verifier=pkce_pair()[0])

    assert response.json()["error"] == "invalid_request"


def test_replayed_code_fails_and_revokes_the_tokens_it_gave(signed_in, rp):
    code = get_code(signed_in, rp)
    first = rp.redeem(signed_in, code)
    access_token = first.json()["access_token"]

    second = rp.redeem(signed_in, code)

    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert Token.objects.get(token_hash=token_hash(access_token)).revoked_at is not None
    userinfo = signed_in.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert userinfo.status_code == 401


def test_code_expires_after_its_short_lifetime(signed_in, rp):
    code = get_code(signed_in, rp)

    with time_machine.travel(time.time() + 61, tick=False):
        response = rp.redeem(signed_in, code)

    assert response.json()["error"] == "invalid_grant"


def test_code_is_bound_to_its_client(signed_in, rp):
    other = make_rp(skip_consent=True)
    code = get_code(signed_in, rp)
    other.verifier = rp.verifier

    response = other.redeem(signed_in, code)

    assert response.json()["error"] == "invalid_grant"
    assert rp.redeem(signed_in, code).status_code == 200  # the rightful client still can


def test_code_is_bound_to_its_redirect_uri(signed_in, rp):
    code = get_code(signed_in, rp)

    response = rp.redeem(signed_in, code, redirect_uri="https://rp.example/other")

    assert response.json()["error"] == "invalid_grant"


def test_wrong_client_secret_with_basic_is_401_with_challenge(signed_in, rp):
    code = get_code(signed_in, rp)
    rp.secret = "wrong"

    response = rp.redeem(signed_in, code)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response["WWW-Authenticate"].startswith("Basic")


def test_auth_method_other_than_registered_is_invalid_client(signed_in, rp):
    response = rp.redeem(signed_in, get_code(signed_in, rp), auth="post")

    assert response.json()["error"] == "invalid_client"


def test_disabled_client_cannot_redeem(signed_in, rp):
    from clients.services import client_disable

    code = get_code(signed_in, rp)
    client_disable(client=rp.client)

    assert rp.redeem(signed_in, code).json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
        ({}, "invalid_request"),
        ({"grant_type": "authorization_code"}, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "made-up"}, "invalid_grant"),
        ({"grant_type": "authorization_code", "code": "x" * 5000}, "invalid_grant"),
    ],
)
def test_bad_token_requests_get_rfc6749_errors(client, rp, data, error):
    response = client.post(
        "/token", urlencode(data), content_type="application/x-www-form-urlencoded",
        **rp.basic_auth(),
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert "no-store" in response["Cache-Control"]


def test_token_request_must_be_form_encoded(client, rp):
    response = client.post(
        "/token", json.dumps({"grant_type": "authorization_code"}),
        content_type="application/json", **rp.basic_auth(),
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_repeated_token_parameter_is_refused(client, rp):
    response = client.post(
        "/token", "grant_type=authorization_code&code=a&code=b",
        content_type="application/x-www-form-urlencoded", **rp.basic_auth(),
    )  # fmt: skip

    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "authorization",
    ["Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Bearer x", "Basic"],
)
def test_malformed_client_authentication_is_invalid_client(client, rp, authorization):
    response = client.post(
        "/token", "grant_type=authorization_code&code=x",
        content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=authorization,
    )  # fmt: skip

    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_non_utf8_token_request_is_a_clean_error(client, rp):
    response = client.post(
        "/token", b"grant_type=authorization_code&code=%ff%fe",
        content_type="application/x-www-form-urlencoded", **rp.basic_auth(),
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_token_endpoint_accepts_only_post(client, method):
    assert getattr(client, method)("/token").status_code == 405


def test_access_token_is_stored_only_as_a_hash(signed_in, rp):
    body = rp.redeem(signed_in, get_code(signed_in, rp)).json()

    stored = str(list(Token.objects.values()))
    assert body["access_token"] not in stored
    assert body["id_token"] not in stored


def test_oversize_token_request_is_json_invalid_request(client, rp):
    response = client.post(
        "/token", "grant_type=authorization_code&code=" + "x" * 300_000,
        content_type="application/x-www-form-urlencoded", **rp.basic_auth(),
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
