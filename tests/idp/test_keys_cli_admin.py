"""`manage.py keys …` and the signing-key admin."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from idp.models import SigningKey
from idp.services import keys

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/idp/signingkey/"


def run_keys(*args: str) -> str:
    out = io.StringIO()
    call_command("keys", *args, stdout=out)
    return out.getvalue()


def test_status_lists_every_key_and_what_happens_next():
    keys.key_ring()

    rows = json.loads(run_keys("status", "--json"))
    table = run_keys("status")

    assert {r["alg"] for r in rows} == {"RS256", "ES256", "EdDSA"}
    assert all(r["state"] == "active" and r["next"].startswith("retires after") for r in rows)
    assert rows[0]["kid"] in table


def test_rotate_promotes_a_new_key_now():
    before = keys.key_ring().active

    result = json.loads(run_keys("rotate", "--alg", "ES256", "--json"))

    after = keys.key_ring().active
    assert after["ES256"] != before["ES256"]
    assert after["RS256"] == before["RS256"]
    assert any("signing_key_rotated alg=ES256" in e for e in result["events"])
    states = {k["kid"]: k["state"] for k in result["keys"]}
    assert states[before["ES256"]] == "retired"


def test_revoke_by_kid():
    kid = keys.key_ring().active["EdDSA"]

    result = json.loads(run_keys("revoke", "--json", "--", kid))  # a kid may start with "-"

    assert result == {"kid": kid, "state": "revoked"}
    assert kid not in {k["kid"] for k in keys.key_ring().jwks["keys"]}


def test_revoke_unknown_kid_is_a_clear_error():
    with pytest.raises(CommandError, match="No signing key with kid"):
        run_keys("revoke", "nope")


def test_reencrypt_reports_its_count():
    keys.key_ring()

    assert "Re-encrypted 3 private key(s) and 0 authenticator secret(s)" in run_keys("reencrypt")


@pytest.fixture
def superuser_client(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_lists_keys_without_private_material(superuser_client):
    keys.key_ring()
    key = SigningKey.objects.first()

    listing = superuser_client.get(LIST_URL)
    detail = superuser_client.get(f"{LIST_URL}{key.pk}/change/")

    assert key.kid in listing.content.decode()
    assert detail.status_code == 200
    assert key.private_key_encrypted not in detail.content.decode()
    assert superuser_client.get(f"{LIST_URL}add/").status_code == 403


def test_admin_revoke_asks_for_confirmation_then_revokes(superuser_client):
    keys.key_ring()
    key = SigningKey.objects.get(alg="RS256", state="active")
    action = {"action": "revoke_keys", "_selected_action": [key.pk]}

    confirm = superuser_client.post(LIST_URL, action)
    key.refresh_from_db()
    assert "Revoke these signing keys?" in confirm.content.decode()
    assert key.state == "active"

    superuser_client.post(LIST_URL, {**action, "confirm": "yes"})
    key.refresh_from_db()
    assert key.state == "revoked"
    assert SigningKey.objects.filter(alg="RS256", state="active").count() == 1


def test_admin_rotate_asks_for_confirmation_then_rotates(superuser_client):
    keys.key_ring()
    key = SigningKey.objects.get(alg="ES256", state="active")
    action = {"action": "rotate_now", "_selected_action": [key.pk]}

    superuser_client.post(LIST_URL, action)
    key.refresh_from_db()
    assert key.state == "active"

    superuser_client.post(LIST_URL, {**action, "confirm": "yes"})
    key.refresh_from_db()
    assert key.state == "retired"


def test_admin_actions_need_a_superuser(client):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_signingkey"))
    client.force_login(staff)
    keys.key_ring()
    key = SigningKey.objects.get(alg="ES256", state="active")

    response = client.post(
        LIST_URL, {"action": "revoke_keys", "_selected_action": [key.pk], "confirm": "yes"}
    )

    key.refresh_from_db()
    assert response.status_code == 403
    assert key.state == "active"
