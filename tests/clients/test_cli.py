"""`manage.py clients …` round trips, as a script would use them."""

import io
import json
import logging

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from clients.models import Client

pytestmark = pytest.mark.django_db


def clients(*args: str) -> str:
    out = io.StringIO()
    call_command("clients", *args, stdout=out)
    return out.getvalue()


def test_create_json_prints_client_id_and_secret_once_and_they_work(caplog):
    caplog.set_level(logging.DEBUG)
    created = json.loads(
        clients(
            "create",
            "--name",
            "Wiki",
            "--redirect-uri",
            "https://wiki.example/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--post-logout-redirect-uri",
            "https://wiki.example/bye",
            "--scope",
            "openid profile",
            "--json",
        )
    )

    client = Client.objects.get(client_id=created["client_id"])
    assert client.check_client_secret(created["client_secret"])
    assert created["redirect_uris"] == ["https://wiki.example/cb", "http://127.0.0.1/cb"]
    assert created["scope"] == "openid profile"
    assert created["client_secret"] not in caplog.text
    shown = json.loads(clients("show", created["client_id"], "--json"))
    assert "client_secret" not in shown
    assert shown["client_name"] == "Wiki"


def test_create_with_every_option():
    created = json.loads(
        clients(
            "create",
            "--name",
            "Full",
            "--redirect-uri",
            "https://full.example/cb",
            "--auth-method",
            "client_secret_post",
            "--grant-type",
            "authorization_code",
            "--grant-type",
            "refresh_token",
            "--backchannel-logout-uri",
            "https://full.example/bc",
            "--frontchannel-logout-uri",
            "https://full.example/fc",
            "--skip-consent",
            "--id-token-alg",
            "ES256",
            "--access-token-format",
            "opaque",
            "--access-token-lifetime",
            "300",
            "--refresh-token-lifetime",
            "86400",
            "--json",
        )
    )

    client = Client.objects.get(client_id=created["client_id"])
    assert client.token_endpoint_auth_method == "client_secret_post"
    assert client.skip_consent is True
    assert client.id_token_signed_response_alg == "ES256"
    assert client.access_token_format == "opaque"
    assert client.access_token_lifetime == 300
    assert client.backchannel_logout_uri == "https://full.example/bc"


def test_create_public_client_has_no_secret():
    created = json.loads(
        clients(
            "create",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "http://localhost:5173/cb",
            "--json",
        )
    )

    assert "client_secret" not in created
    assert created["token_endpoint_auth_method"] == "none"
    assert created["require_pkce"] is True


def test_create_human_output_shows_secret_and_rp_settings():
    output = clients("create", "--name", "Wiki", "--redirect-uri", "https://wiki.example/cb")

    assert "client_secret:" in output
    assert "OIDC_DISCOVERY_URL=http://127.0.0.1:8000/.well-known/openid-configuration" in output


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--redirect-uri", "https://a.example/cb#x"], "fragment"),
        (["--redirect-uri", "http://a.example/cb"], "https"),
        ([], "redirect_uris"),
        (["--redirect-uri", "https://a.example/cb", "--scope", "openid root"], "Unknown scope"),
        (["--redirect-uri", "https://a.example/cb", "--access-token-lifetime", "5"], "between"),
        (
            [
                "--redirect-uri",
                "https://a.example/cb",
                "--public",
                "--auth-method",
                "client_secret_basic",
            ],
            "public client",
        ),
    ],
)
def test_create_refuses_bad_input_with_a_one_line_reason(args, reason):
    with pytest.raises(CommandError) as error:
        clients("create", "--name", "Bad", *args)

    assert reason in str(error.value)
    assert "\n" not in str(error.value)
    assert not Client.objects.exists()


def test_list_and_show():
    created = json.loads(
        clients("create", "--name", "Wiki", "--redirect-uri", "https://w.example/cb", "--json")
    )

    listed = json.loads(clients("list", "--json"))
    assert [c["client_id"] for c in listed] == [created["client_id"]]
    assert "Wiki" in clients("list")
    assert created["client_id"] in clients("show", created["client_id"])


def test_rotate_secret_prints_a_new_working_secret():
    created = json.loads(
        clients("create", "--name", "Wiki", "--redirect-uri", "https://w.example/cb", "--json")
    )

    rotated = json.loads(clients("rotate-secret", created["client_id"], "--grace", "60", "--json"))

    client = Client.objects.get(client_id=created["client_id"])
    assert rotated["client_secret"] != created["client_secret"]
    assert client.check_client_secret(rotated["client_secret"])
    assert client.check_client_secret(created["client_secret"])  # within the grace period
    assert "previous_secret_expires_at" in rotated


def test_disable_enable_delete():
    created = json.loads(
        clients("create", "--name", "Wiki", "--redirect-uri", "https://w.example/cb", "--json")
    )
    client_id = created["client_id"]

    clients("disable", client_id)
    assert Client.objects.get(client_id=client_id).is_enabled is False
    clients("enable", client_id)
    assert Client.objects.get(client_id=client_id).is_enabled is True
    clients("delete", client_id)
    assert not Client.objects.exists()


@pytest.mark.parametrize("action", ["show", "rotate-secret", "disable", "delete"])
def test_unknown_client_id_is_a_clear_error(action):
    with pytest.raises(CommandError, match="No client with client_id"):
        clients(action, "does-not-exist")
