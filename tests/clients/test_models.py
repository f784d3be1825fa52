"""Client invariants and secret handling."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import override_settings

from clients import services
from clients.models import Client

pytestmark = pytest.mark.django_db


def test_client_create_returns_a_strong_secret_and_stores_only_its_hash(confidential):
    secret = confidential.plain_secret
    stored = Client.objects.values().get(pk=confidential.pk)

    assert len(secret) >= 43  # 256 bits, URL-safe base64
    assert secret not in str(stored)
    assert stored["secret_hash"].startswith("hmac-sha256$")
    assert confidential.check_client_secret(secret)
    assert not confidential.check_client_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B"))
    assert not confidential.check_client_secret("")


def test_client_ids_are_unguessable_and_distinct():
    ids = {
        services.client_create(name=f"c{i}", redirect_uris=["https://a.example/cb"])[0].client_id
        for i in range(20)
    }

    assert len(ids) == 20
    assert all(len(i) == 32 and i.isalnum() for i in ids)


def test_secret_hash_depends_on_the_server_key(confidential):
    with override_settings(IDP_CLIENT_SECRET_HMAC_KEY="another-server-key"):
        assert not confidential.check_client_secret(confidential.plain_secret)


def test_public_client_has_no_secret_and_always_requires_pkce():
    client, secret = services.client_create(
        name="SPA",
        client_type="public",
        require_pkce=False,
        token_endpoint_auth_method="client_secret_basic",
        redirect_uris=["https://spa.example/cb"],
    )

    assert secret is None
    assert client.token_endpoint_auth_method == "none"
    assert client.require_pkce is True
    assert client.secret_hash == ""
    assert not client.check_client_secret("")


def test_database_refuses_a_public_client_without_pkce(confidential):
    with pytest.raises(IntegrityError), transaction.atomic():
        Client.objects.filter(pk=confidential.pk).update(
            client_type="public", token_endpoint_auth_method="none", require_pkce=False
        )


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"name": "  "}, "name"),
        ({"token_endpoint_auth_method": "none"}, "token_endpoint_auth_method"),
        ({"grant_types": ["password"]}, "grant_types"),
        ({"grant_types": []}, "grant_types"),
        ({"grant_types": ["refresh_token"], "response_types": []}, "grant_types"),
        ({"response_types": ["token"]}, "response_types"),
        ({"scopes": ["openid", "admin:everything"]}, "scopes"),
        ({"scopes": ['bad"scope']}, "scopes"),
        ({"redirect_uris": []}, "redirect_uris"),
        ({"redirect_uris": ["https://a.example/cb#f"]}, "redirect_uris"),
        ({"redirect_uris": "https://a.example/cb"}, "redirect_uris"),
        ({"post_logout_redirect_uris": ["http://evil.example/"]}, "post_logout_redirect_uris"),
        ({"backchannel_logout_uri": "ftp://a.example/logout"}, "backchannel_logout_uri"),
        ({"logo_uri": "javascript:alert(1)"}, "logo_uri"),
        ({"id_token_signed_response_alg": "none"}, "id_token_signed_response_alg"),
        ({"id_token_signed_response_alg": "HS256"}, "id_token_signed_response_alg"),
        ({"access_token_lifetime": 10}, "access_token_lifetime"),
        ({"refresh_token_lifetime": 10**9}, "refresh_token_lifetime"),
        ({"contacts": [""]}, "contacts"),
    ],
)
def test_client_create_refuses_invalid_settings_with_a_field_reason(attributes, field):
    attributes.setdefault("redirect_uris", ["https://a.example/cb"])
    name = attributes.pop("name", "App")

    with pytest.raises(ValidationError) as error:
        services.client_create(name=name, **attributes)

    assert field in error.value.message_dict
    assert not Client.objects.exists()


def test_public_client_cannot_use_client_credentials():
    with pytest.raises(ValidationError) as error:
        services.client_create(
            name="SPA", client_type="public", grant_types=["client_credentials"], response_types=[]
        )

    assert "grant_types" in error.value.message_dict


def test_service_client_with_client_credentials_needs_no_redirect_uri():
    client, secret = services.client_create(
        name="Batch", grant_types=["client_credentials"], response_types=[], scopes=[]
    )

    assert client.check_grant_type("client_credentials")
    assert not client.check_grant_type("authorization_code")
    assert secret


def test_failed_update_leaves_the_stored_client_untouched(confidential):
    with pytest.raises(ValidationError):
        services.client_update(client=confidential, redirect_uris=["http://evil.example/cb"])

    confidential.refresh_from_db()
    assert confidential.redirect_uris == ["https://wiki.example/callback"]


def test_rotate_secret_without_grace_invalidates_the_old_one_at_once(confidential):
    old = confidential.plain_secret

    new = services.client_secret_rotate(client=confidential, grace=timedelta(0))

    confidential.refresh_from_db()
    assert new != old
    assert confidential.check_client_secret(new)
    assert not confidential.check_client_secret(old)


def test_rotate_secret_with_grace_keeps_the_old_one_until_it_ends(confidential):
    old = confidential.plain_secret

    with time_machine.travel("2026-01-01 12:00:00Z", tick=False):
        new = services.client_secret_rotate(client=confidential, grace=timedelta(hours=1))
        confidential.refresh_from_db()
        assert confidential.check_client_secret(old)
        assert confidential.check_client_secret(new)
    with time_machine.travel("2026-01-01 13:00:01Z", tick=False):
        assert not confidential.check_client_secret(old)
        assert confidential.check_client_secret(new)


@override_settings(IDP_CLIENT_SECRET_GRACE_PERIOD=timedelta(minutes=5))
def test_rotate_secret_uses_the_configured_default_grace(confidential):
    services.client_secret_rotate(client=confidential)

    confidential.refresh_from_db()
    assert confidential.check_client_secret(confidential.plain_secret)


def test_a_second_rotation_ends_the_first_grace(confidential):
    first = confidential.plain_secret
    services.client_secret_rotate(client=confidential, grace=timedelta(hours=1))
    services.client_secret_rotate(client=confidential, grace=timedelta(hours=1))

    confidential.refresh_from_db()
    assert not confidential.check_client_secret(first)


def test_disabled_client_is_invisible_to_the_protocol(confidential):
    services.client_disable(client=confidential)

    assert services.client_get_enabled(confidential.client_id) is None
    services.client_enable(client=confidential)
    assert services.client_get_enabled(confidential.client_id) == confidential


@pytest.mark.parametrize("client_id", ["", "x" * 500, None, 42])
def test_protocol_lookup_of_bad_client_ids_finds_nothing(client_id):
    assert services.client_get_enabled(client_id) is None


def test_allowed_scope_keeps_only_registered_scopes_in_request_order(confidential):
    assert confidential.get_allowed_scope("email openid admin openid") == "email openid"


def test_default_redirect_uri_only_when_unambiguous(confidential):
    assert confidential.get_default_redirect_uri() == "https://wiki.example/callback"
    services.client_update(
        client=confidential, redirect_uris=["https://wiki.example/a", "https://wiki.example/b"]
    )
    confidential.refresh_from_db()
    assert confidential.get_default_redirect_uri() is None


def test_lifetimes_fall_back_to_server_defaults(confidential):
    assert confidential.access_token_ttl == timedelta(minutes=10)
    services.client_update(client=confidential, access_token_lifetime=300)
    confidential.refresh_from_db()
    assert confidential.access_token_ttl == timedelta(minutes=5)
