"""UserInfo (OIDC Core §5.3) and the discovery documents (OIDC Discovery §4, RFC 8414)."""

import json
import time

import pytest
import time_machine

from idp.conf import idp_settings
from idp.services import keys
from tests.idp.conftest import query_of

pytestmark = pytest.mark.django_db


def tokens(http, relying_party, **params) -> dict:
    code = query_of(http.get("/authorize", relying_party.authorize_params(**params))["Location"])
    return relying_party.redeem(http, code["code"]).json()


@pytest.fixture
def rich_user(user):
    user.email_verified = True
    user.phone_number = "+33 1 23 45 67 89"
    user.address_street, user.address_locality = "1 Rue de la Paix", "Paris"
    user.address_country, user.locale = "France", "fr-FR"
    user.save()
    return user


def test_userinfo_get_with_bearer_header(signed_in, rp, user):
    body = tokens(signed_in, rp)

    response = signed_in.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")

    assert response.status_code == 200
    info = response.json()
    assert info["sub"] == str(user.subject)
    assert info["email"] == user.email
    assert info["given_name"] == "Ada"
    assert "phone_number" not in info  # not in the granted scopes
    assert "no-store" in response["Cache-Control"]


def test_userinfo_post_with_header_and_with_form_body(signed_in, rp):
    access_token = tokens(signed_in, rp)["access_token"]

    with_header = signed_in.post("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    with_body = signed_in.post("/userinfo", {"access_token": access_token})

    assert with_header.status_code == with_body.status_code == 200
    assert with_header.json() == with_body.json()


def test_userinfo_claims_follow_scopes(signed_in, rp, rich_user):
    from clients.services import client_update

    client_update(client=rp.client, scopes=["openid", "profile", "email", "address", "phone"])
    access_token = tokens(signed_in, rp, scope="openid address phone")["access_token"]

    info = signed_in.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}").json()

    assert set(info) == {"sub", "address", "phone_number", "phone_number_verified"}
    assert info["address"]["locality"] == "Paris"
    assert "Paris" in info["address"]["formatted"]


def test_userinfo_serves_claims_requested_by_name_within_the_granted_scopes(signed_in, rp):
    claims = json.dumps({"userinfo": {"name": {"essential": True}}})
    access_token = tokens(signed_in, rp, scope="openid profile", claims=claims)["access_token"]

    info = signed_in.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}").json()

    assert info["name"] == "Ada Lovelace"
    assert "email" not in info


def test_claims_request_never_reaches_beyond_the_consented_scopes(signed_in, rp):
    """The `claims` parameter picks among consented claims; it cannot add email to a token
    whose user only consented to `openid` (OIDC Core §5.5, §3.1.2.4)."""
    claims = json.dumps({"userinfo": {"email": None}, "id_token": {"email": None}})
    body = tokens(signed_in, rp, scope="openid", claims=claims)

    info = signed_in.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}").json()

    assert set(info) == {"sub"}
    from joserfc import jwt
    from joserfc.jwk import KeySet

    id_claims = jwt.decode(body["id_token"], KeySet.import_key_set(
        signed_in.get("/jwks.json").json())).claims  # fmt: skip
    assert "email" not in id_claims


def test_userinfo_without_token_is_401_with_a_bare_challenge(client):
    response = client.get("/userinfo")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="portcullis"'


@pytest.mark.parametrize("token", ["garbage", "x" * 10000, "eyJhbGciOiJub25lIn0.e30."])
def test_userinfo_with_a_bad_token_is_invalid_token(client, token):
    response = client.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert response.json()["error"] == "invalid_token"


def test_userinfo_with_an_expired_token_is_invalid_token(signed_in, rp):
    access_token = tokens(signed_in, rp)["access_token"]

    with time_machine.travel(time.time() + 601, tick=False):
        response = signed_in.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}")

    assert response.status_code == 401


def test_userinfo_rejects_a_token_signed_by_a_revoked_key(signed_in, rp):
    access_token = tokens(signed_in, rp)["access_token"]

    keys.signing_key_revoke(kid=keys.key_ring().active["RS256"])

    response = signed_in.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    assert response.status_code == 401


def test_userinfo_rejects_a_token_of_a_deactivated_user(signed_in, rp, user):
    access_token = tokens(signed_in, rp)["access_token"]
    user.is_active = False
    user.save()

    response = signed_in.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}")

    assert response.status_code == 401


def test_userinfo_without_openid_scope_is_insufficient_scope(signed_in, rp):
    access_token = tokens(signed_in, rp, scope="profile")["access_token"]

    response = signed_in.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access_token}")

    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]


def test_userinfo_token_in_two_places_is_invalid_request(signed_in, rp):
    access_token = tokens(signed_in, rp)["access_token"]

    response = signed_in.post(
        "/userinfo", {"access_token": access_token}, HTTP_AUTHORIZATION=f"Bearer {access_token}"
    )

    assert response.status_code == 400


def test_userinfo_refuses_other_methods(client):
    assert client.put("/userinfo").status_code == 405


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_discovery_document(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    doc = response.json()
    issuer = idp_settings.ISSUER
    assert doc["issuer"] == issuer
    assert doc["authorization_endpoint"] == f"{issuer}/authorize"
    assert doc["token_endpoint"] == f"{issuer}/token"
    assert doc["userinfo_endpoint"] == f"{issuer}/userinfo"
    assert doc["jwks_uri"] == f"{issuer}/jwks.json"
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert "RS256" in doc["id_token_signing_alg_values_supported"]
    assert "openid" in doc["scopes_supported"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["request_parameter_supported"] is False
    assert doc["subject_types_supported"] == ["public"]
    assert "registration_endpoint" not in doc


def test_discovery_issuer_never_comes_from_the_host_header(client):
    response = client.get("/.well-known/openid-configuration", HTTP_HOST="localhost")

    assert response.json()["issuer"] == idp_settings.ISSUER


def test_discovery_lists_registration_when_enabled(client, settings):
    settings.IDP_REGISTRATION_ENABLED = True

    doc = client.get("/.well-known/openid-configuration").json()

    assert doc["registration_endpoint"] == f"{idp_settings.ISSUER}/register"


def test_discovery_and_jwks_need_no_database_query_when_warm(client, django_assert_num_queries):
    client.get("/.well-known/openid-configuration")
    client.get("/jwks.json")

    with django_assert_num_queries(0):
        client.get("/.well-known/openid-configuration")
        client.get("/jwks.json")
