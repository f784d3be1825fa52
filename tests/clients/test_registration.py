"""Dynamic Client Registration (RFC 7591 / 7592), spoken over HTTP."""

import json

import pytest
import requests
from django.test import override_settings

from clients.models import Client
from clients.registration import token_hash

pytestmark = pytest.mark.django_db

ENABLED = override_settings(IDP_REGISTRATION_ENABLED=True)
METADATA = {
    "client_name": "Dynamic App",
    "redirect_uris": ["https://dyn.example/cb"],
    "post_logout_redirect_uris": ["https://dyn.example/bye"],
    "contacts": ["ops@dyn.example"],
    "id_token_signed_response_alg": "ES256",
}


def register(client, body, **headers):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post("/register", data, content_type="application/json", **headers)


def test_registration_is_off_by_default(client):
    response = register(client, METADATA)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert not Client.objects.exists()


@ENABLED
def test_registration_round_trip_over_http(live_server):
    created = requests.post(f"{live_server.url}/register", json=METADATA, timeout=10)

    assert created.status_code == 201
    assert created.headers["Cache-Control"] == "no-store"
    body = created.json()
    client = Client.objects.get(client_id=body["client_id"])
    assert client.check_client_secret(body["client_secret"])
    assert client.is_dynamically_registered
    assert body["id_token_signed_response_alg"] == "ES256"
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    assert body["grant_types"] == ["authorization_code"]
    assert body["client_secret_expires_at"] == 0
    assert body["registration_client_uri"].endswith(f"/register/{body['client_id']}")
    assert client.registration_access_token_hash == token_hash(body["registration_access_token"])

    url = f"{live_server.url}/register/{body['client_id']}"
    auth = {"Authorization": f"Bearer {body['registration_access_token']}"}
    read = requests.get(url, headers=auth, timeout=10)
    assert read.status_code == 200
    assert read.json()["redirect_uris"] == ["https://dyn.example/cb"]
    assert "client_secret" not in read.json()

    update = {
        **METADATA,
        "client_id": body["client_id"],
        "redirect_uris": ["https://dyn.example/2"],
    }
    updated = requests.put(url, json=update, headers=auth, timeout=10)
    assert updated.status_code == 200
    assert updated.json()["redirect_uris"] == ["https://dyn.example/2"]

    deleted = requests.delete(url, headers=auth, timeout=10)
    assert deleted.status_code == 204
    assert not Client.objects.exists()
    assert requests.get(url, headers=auth, timeout=10).status_code == 401


@ENABLED
def test_public_client_registration_gets_no_secret(client):
    response = register(client, {**METADATA, "token_endpoint_auth_method": "none"})

    body = response.json()
    assert response.status_code == 201
    assert "client_secret" not in body
    assert Client.objects.get().is_public


@ENABLED
@override_settings(IDP_REGISTRATION_INITIAL_ACCESS_TOKEN="initial-token-123")
@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic aW5pdGlhbA==", "Bearer"])
def test_registration_needs_the_initial_access_token_when_configured(client, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = register(client, METADATA, **headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Client.objects.exists()


@ENABLED
@override_settings(IDP_REGISTRATION_INITIAL_ACCESS_TOKEN="initial-token-123")
def test_registration_with_the_initial_access_token_succeeds(client):
    response = register(client, METADATA, HTTP_AUTHORIZATION="Bearer initial-token-123")

    assert response.status_code == 201


@ENABLED
@pytest.mark.parametrize(
    ("body", "error", "mentions"),
    [
        (
            {**METADATA, "redirect_uris": ["https://dyn.example/cb#frag"]},
            "invalid_redirect_uri",
            "fragment",
        ),
        ({**METADATA, "redirect_uris": ["http://dyn.example/cb"]}, "invalid_redirect_uri", "https"),
        (
            {**METADATA, "redirect_uris": ["https://*.dyn.example/cb"]},
            "invalid_redirect_uri",
            "Wildcard",
        ),
        ({**METADATA, "redirect_uris": []}, "invalid_redirect_uri", "redirect_uris"),
        ({"client_name": "No URIs"}, "invalid_redirect_uri", "redirect_uris"),
        (
            {**METADATA, "redirect_uris": "https://dyn.example/cb"},
            "invalid_client_metadata",
            "array",
        ),
        (
            {**METADATA, "post_logout_redirect_uris": ["javascript:x"]},
            "invalid_redirect_uri",
            "post_logout_redirect_uris",
        ),
        ({**METADATA, "grant_types": ["password"]}, "invalid_client_metadata", "grant_types"),
        ({**METADATA, "response_types": ["token"]}, "invalid_client_metadata", "response_types"),
        ({**METADATA, "scope": "openid superuser"}, "invalid_client_metadata", "scope"),
        (
            {**METADATA, "id_token_signed_response_alg": "none"},
            "invalid_client_metadata",
            "id_token_signed_response_alg",
        ),
        (
            {**METADATA, "token_endpoint_auth_method": "private_key_jwt"},
            "invalid_client_metadata",
            "token_endpoint_auth_method",
        ),
        (
            {**METADATA, "jwks_uri": "https://dyn.example/jwks"},
            "invalid_client_metadata",
            "jwks_uri",
        ),
        (
            {**METADATA, "userinfo_signed_response_alg": "RS256"},
            "invalid_client_metadata",
            "userinfo_signed_response_alg",
        ),
        ({**METADATA, "subject_type": "pairwise"}, "invalid_client_metadata", "subject_type"),
        (
            {**METADATA, "backchannel_logout_session_required": "yes"},
            "invalid_client_metadata",
            "true or false",
        ),
        ({**METADATA, "client_name": 7}, "invalid_client_metadata", "client_name"),
        (
            {**METADATA, "logo_uri": "http://dyn.example/logo.png"},
            "invalid_client_metadata",
            "logo_uri",
        ),
        ([METADATA], "invalid_client_metadata", "JSON object"),
        ("not json", "invalid_client_metadata", "JSON"),
        (b'{"client_name": "\xff\xfe"}', "invalid_client_metadata", "UTF-8"),
    ],
)
def test_malformed_registration_is_refused_and_leaves_existing_clients_alone(
    client, confidential, body, error, mentions
):
    before = list(Client.objects.values())

    response = register(client, body)

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert mentions in response.json()["error_description"]
    assert list(Client.objects.values()) == before


@ENABLED
def test_registration_refuses_a_form_body(client):
    response = client.post("/register", {"client_name": "x"})

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client_metadata"


@ENABLED
def test_registration_refuses_an_oversize_body(client):
    body = json.dumps({**METADATA, "client_name": "x" * 300_000})

    response = register(client, body)

    assert response.status_code == 400


@ENABLED
@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_registration_endpoint_allows_only_post(client, method):
    assert getattr(client, method)("/register").status_code == 405


@ENABLED
def test_registration_token_only_opens_its_own_client(client):
    first = register(client, METADATA).json()
    second = register(client, METADATA).json()

    response = client.get(
        f"/register/{second['client_id']}",
        HTTP_AUTHORIZATION=f"Bearer {first['registration_access_token']}",
    )

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


@ENABLED
def test_registration_token_cannot_open_admin_registered_clients(client, confidential):
    mine = register(client, METADATA).json()

    response = client.get(
        f"/register/{confidential.client_id}",
        HTTP_AUTHORIZATION=f"Bearer {mine['registration_access_token']}",
    )

    assert response.status_code == 401


@ENABLED
def test_update_with_bad_metadata_leaves_the_registration_untouched(client):
    created = register(client, METADATA).json()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {created['registration_access_token']}"}

    response = client.put(
        f"/register/{created['client_id']}",
        json.dumps(
            {
                **METADATA,
                "client_id": created["client_id"],
                "redirect_uris": ["http://evil.example/"],
            }
        ),
        content_type="application/json",
        **auth,
    )

    assert response.status_code == 400
    assert Client.objects.get().redirect_uris == ["https://dyn.example/cb"]


@ENABLED
def test_update_cannot_turn_a_confidential_client_public(client):
    created = register(client, METADATA).json()

    response = client.put(
        f"/register/{created['client_id']}",
        json.dumps(
            {**METADATA, "client_id": created["client_id"], "token_endpoint_auth_method": "none"}
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {created['registration_access_token']}",
    )

    assert response.status_code == 400
    assert not Client.objects.get().is_public
