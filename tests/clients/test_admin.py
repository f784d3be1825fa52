"""Registering and managing clients in the Django admin, through the test client."""

import re

import pytest

from clients.models import Client

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/clients/client/add/"
LIST_URL = "/admin/clients/client/"


def form_data(**overrides):
    data = {
        "name": "Wiki",
        "redirect_uris": "https://wiki.example/cb\nhttp://127.0.0.1/cb",
        "post_logout_redirect_uris": "",
        "contacts": "",
        "client_type": "confidential",
        "application_type": "web",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "scopes": "openid profile email",
        "require_pkce": "on",
        "is_enabled": "on",
        "id_token_signed_response_alg": "RS256",
        "access_token_format": "jwt",
    }
    data.update(overrides)
    return data


def shown_secret(response) -> str:
    match = re.search(r'data-testid="client-secret">([^<]+)<', response.content.decode())
    assert match, "the secret page shows the secret"
    return match.group(1)


def test_admin_add_shows_the_secret_once_and_stores_only_its_hash(staff_client):
    response = staff_client.post(ADD_URL, form_data())

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = shown_secret(response)
    client = Client.objects.get()
    assert client.check_client_secret(secret)
    assert secret not in str(Client.objects.values().get())
    body = response.content.decode()
    assert "OIDC_ISSUER=http://127.0.0.1:8000" in body
    assert client.client_id in body
    change_page = staff_client.get(f"/admin/clients/client/{client.pk}/change/")
    assert secret not in change_page.content.decode()
    assert "OIDC_DISCOVERY_URL" in change_page.content.decode()


def test_admin_add_refuses_a_bad_redirect_uri_with_a_field_message(staff_client):
    response = staff_client.post(ADD_URL, form_data(redirect_uris="https://wiki.example/cb#frag"))

    assert response.status_code == 200
    assert "must not contain a fragment" in response.content.decode()
    assert not Client.objects.exists()


def test_admin_change_with_bad_input_leaves_the_client_untouched(staff_client, confidential):
    response = staff_client.post(
        f"/admin/clients/client/{confidential.pk}/change/",
        form_data(redirect_uris="http://evil.example/cb"),
    )

    assert response.status_code == 200
    confidential.refresh_from_db()
    assert confidential.redirect_uris == ["https://wiki.example/callback"]


def test_admin_list_search_and_filters(staff_client, confidential):
    assert staff_client.get(LIST_URL).status_code == 200
    found = staff_client.get(LIST_URL, {"q": "Wiki"})
    assert confidential.client_id in found.content.decode()
    filtered = staff_client.get(LIST_URL, {"client_type__exact": "public"})
    assert confidential.client_id not in filtered.content.decode()
    assert staff_client.get(LIST_URL, {"is_enabled__exact": "1"}).status_code == 200


def test_admin_rotate_secret_action_confirms_then_shows_a_new_secret(staff_client, confidential):
    action = {"action": "rotate_secret", "_selected_action": [confidential.pk]}

    confirm = staff_client.post(LIST_URL, action)
    assert "Rotate the client secret?" in confirm.content.decode()
    confidential.refresh_from_db()
    assert confidential.check_client_secret(confidential.plain_secret)

    done = staff_client.post(LIST_URL, {**action, "confirm": "yes"})
    secret = shown_secret(done)
    confidential.refresh_from_db()
    assert confidential.check_client_secret(secret)
    assert not confidential.check_client_secret(confidential.plain_secret)


def test_admin_disable_action_blocks_the_client_at_once(staff_client, confidential):
    staff_client.post(
        LIST_URL, {"action": "disable_clients", "_selected_action": [confidential.pk]}
    )

    confidential.refresh_from_db()
    assert confidential.is_enabled is False


def test_admin_is_closed_to_non_staff(client, user):
    client.force_login(user)

    response = client.get(LIST_URL)

    assert response.status_code == 302
