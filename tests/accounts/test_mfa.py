"""Two-step verification (TOTP, recovery codes), step-up, throttling and the audit log."""

import re
import time

import pyotp
import pytest
import time_machine
from django.test import Client as Browser
from joserfc import jwt
from joserfc.jwk import KeySet

from accounts import mfa
from accounts.models import AuditEvent, TOTPDevice
from idp.models import Consent, RefreshToken
from tests.factories import PASSWORD, UserFactory
from tests.idp.conftest import make_rp, query_of

pytestmark = pytest.mark.django_db


def enrol(browser, user) -> tuple[str, list[str]]:
    """Enrol an authenticator app through the pages; returns its secret and recovery codes."""
    page = browser.get("/account/mfa/totp")
    secret = re.search(r'data-testid="totp-secret" class="secret">([A-Z2-7]+)<',
                       page.content.decode()).group(1)  # fmt: skip
    done = browser.post("/account/mfa/totp", {"code": pyotp.TOTP(secret).now()})
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", done.content.decode())
    return secret, codes


def password_step(browser, user, **extra):
    return browser.post("/login", {"email": user.email, "password": PASSWORD, **extra})


@pytest.fixture
def enrolled(signed_in, user):
    secret, codes = enrol(signed_in, user)
    signed_in.post("/logout")
    return secret, codes


def next_code(secret: str) -> str:
    """A code of the next time step: the current one was used by the enrolment."""
    totp = pyotp.TOTP(secret)
    return totp.at(time.time() + totp.interval)


def test_enrolment_shows_a_qr_code_and_confirms_with_a_first_code(signed_in, user):
    page = signed_in.get("/account/mfa/totp")
    assert 'src="data:image/svg+xml' in page.content.decode()
    assert signed_in.post("/account/mfa/totp", {"code": "000000"}).status_code == 200
    assert not TOTPDevice.objects.filter(confirmed_at__isnull=False).exists()

    secret, codes = enrol(signed_in, user)

    assert TOTPDevice.objects.get(user=user).confirmed_at is not None
    assert len(codes) == 10
    assert AuditEvent.objects.filter(event="mfa_totp_enrolled", user=user).exists()
    assert secret not in str(list(TOTPDevice.objects.values()))  # encrypted at rest


def test_sign_in_needs_the_second_step(client, user, enrolled):
    secret, _ = enrolled

    response = password_step(client, user, next="/account")

    assert response["Location"] == "/login/mfa?next=%2Faccount"
    assert client.get("/account").status_code == 302  # not signed in yet
    with time_machine.travel(time.time() + 30, tick=False):
        done = client.post("/login/mfa", {"code": pyotp.TOTP(secret).now(), "next": "/account"})
    assert done["Location"] == "/account"
    assert client.session["portcullis_amr"] == ["pwd", "otp", "mfa"]


def test_a_used_code_cannot_be_replayed(client, user, enrolled):
    secret, _ = enrolled
    code = next_code(secret)
    with time_machine.travel(time.time() + 30, tick=False):
        password_step(client, user)
        client.post("/login/mfa", {"code": code})
        other = Browser()
        password_step(other, user)

        replay = other.post("/login/mfa", {"code": code})

    assert replay.status_code == 200
    assert "That code didn" in replay.content.decode()
    assert other.get("/account").status_code == 302


@pytest.mark.parametrize(
    ("drift", "accepted"), [(-30, True), (30, True), (-90, False), (90, False)]
)
def test_clock_drift_of_one_step_is_tolerated(client, user, enrolled, drift, accepted):
    secret, _ = enrolled
    totp = pyotp.TOTP(secret)
    later = time.time() + 300
    code = totp.at(later + drift)  # the user's phone is `drift` seconds off

    with time_machine.travel(later, tick=False):
        password_step(client, user)
        client.post("/login/mfa", {"code": code})

    assert (client.get("/account").status_code == 200) is accepted


def test_recovery_code_signs_in_once(client, user, enrolled):
    _, codes = enrolled

    password_step(client, user)
    assert client.post("/login/mfa", {"recovery_code": codes[0]})["Location"] == "/account"
    client.post("/logout")
    password_step(client, user)
    again = client.post("/login/mfa", {"recovery_code": codes[0]})

    assert again.status_code == 200
    assert mfa.recovery_codes_left(user) == 9
    assert AuditEvent.objects.filter(event="mfa_recovery_code_used").count() == 1


def test_lost_device_recover_then_enrol_a_new_one(client, user, enrolled):
    _, codes = enrolled
    password_step(client, user)
    client.post("/login/mfa", {"recovery_code": codes[3]})

    client.post("/account/mfa/totp/remove")
    new_secret, new_codes = enrol(client, user)

    assert new_codes != codes
    assert not mfa.recovery_code_use(user=user, code=codes[4])  # the old codes are gone
    assert TOTPDevice.objects.get(user=user).confirmed_at is not None
    assert new_secret


def tokens_for(browser, relying_party, **params) -> dict:
    response = browser.get("/authorize", relying_party.authorize_params(**params))
    return relying_party.redeem(browser, query_of(response["Location"])["code"]).json()


def id_claims(browser, token):
    return jwt.decode(token, KeySet.import_key_set(browser.get("/jwks.json").json())).claims


def test_acr_values_step_up_within_a_password_session(signed_in, user):
    """Signed in with a password before the user had an authenticator; an app now asks for
    loa:2, so Portcullis asks for the second step and keeps the same sign-in session."""
    other_browser = Browser()
    password_step(other_browser, user)
    secret, _ = enrol(other_browser, user)
    app = make_rp(skip_consent=True)
    before = id_claims(signed_in, tokens_for(signed_in, app)["id_token"])

    response = signed_in.get("/authorize", app.authorize_params(acr_values=mfa.ACR_MFA))

    assert response["Location"].startswith("/login/mfa?next=")
    next_path = query_of(response["Location"])["next"]
    with time_machine.travel(time.time() + 30, tick=False):
        done = signed_in.post("/login/mfa", {"code": pyotp.TOTP(secret).now(), "next": next_path})
        code = query_of(signed_in.get(done["Location"])["Location"])["code"]
        after = id_claims(signed_in, app.redeem(signed_in, code).json()["id_token"])
    assert before["acr"] == mfa.ACR_PASSWORD
    assert after["acr"] == mfa.ACR_MFA
    assert after["amr"] == ["pwd", "otp", "mfa"]
    assert after["sid"] == before["sid"]
    assert after["auth_time"] > before["auth_time"]


def test_client_requiring_mfa_sends_a_user_without_it_to_enrol(signed_in):
    strict = make_rp(skip_consent=True, require_mfa=True)

    response = signed_in.get("/authorize", strict.authorize_params())

    assert response["Location"].startswith("/login/mfa?next=")
    assert signed_in.get(response["Location"])["Location"].startswith("/account/mfa/totp?next=")


def test_required_mfa_enrolment_then_continues_to_the_app(signed_in, user):
    strict = make_rp(skip_consent=True, require_mfa=True)
    params = strict.authorize_params()
    to_mfa = signed_in.get("/authorize", params)["Location"]
    to_setup = signed_in.get(to_mfa)["Location"]
    next_path = query_of(to_setup)["next"]

    secret, codes = enrol(signed_in, user)
    response = signed_in.get(next_path)

    code = query_of(response["Location"])["code"]
    claims = id_claims(signed_in, strict.redeem(signed_in, code).json()["id_token"])
    assert claims["acr"] == mfa.ACR_MFA
    assert "mfa" in claims["amr"]
    assert len(codes) == 10


def test_prompt_none_needing_step_up_is_interaction_required(signed_in):
    strict = make_rp(skip_consent=True, require_mfa=True)

    response = signed_in.get("/authorize", strict.authorize_params(prompt="none"))

    assert query_of(response["Location"])["error"] == "interaction_required"


def test_password_only_session_gets_loa1(signed_in, rp):
    body = tokens_for(signed_in, rp)

    claims = id_claims(signed_in, body["id_token"])
    assert claims["acr"] == mfa.ACR_PASSWORD
    assert claims["amr"] == ["pwd"]


# --- brute force ---


def attacker(ip: str) -> Browser:
    return Browser(REMOTE_ADDR=ip)


def test_rapid_wrong_passwords_are_throttled_but_the_user_elsewhere_signs_in(user):
    bot = attacker("203.0.113.9")
    statuses = [
        bot.post("/login", {"email": user.email, "password": f"guess-{i}"}).status_code
        for i in range(30)
    ]

    assert statuses[:5] == [200] * 5
    assert statuses.count(429) >= 20
    throttled = bot.post("/login", {"email": user.email, "password": PASSWORD})
    assert throttled.status_code == 429  # even the right password waits: guessing is bounded
    assert "Retry-After" in throttled
    real_user = attacker("198.51.100.7")
    assert password_step(real_user, user).status_code == 302
    assert AuditEvent.objects.filter(event="login_throttled").exists()


def test_throttled_unknown_and_known_accounts_answer_alike(user):
    known, unknown = attacker("203.0.113.10"), attacker("203.0.113.11")
    for i in range(8):
        known.post("/login", {"email": user.email, "password": f"x{i}"})
        unknown.post("/login", {"email": "nobody@example.test", "password": f"x{i}"})

    a = known.post("/login", {"email": user.email, "password": "x"})
    b = unknown.post("/login", {"email": "nobody@example.test", "password": "x"})

    assert a.status_code == b.status_code == 429


def test_wrong_codes_at_the_second_step_are_throttled(client, user, enrolled):
    password_step(client, user)
    statuses = [client.post("/login/mfa", {"code": "000000"}).status_code for _ in range(12)]

    assert 429 in statuses
    assert AuditEvent.objects.filter(event="mfa_failed").count() >= 5


def test_successful_sign_in_clears_the_throttle(user):
    browser = attacker("203.0.113.12")
    for i in range(4):
        browser.post("/login", {"email": user.email, "password": f"x{i}"})
    assert password_step(browser, user).status_code == 302
    browser.post("/logout")

    assert browser.post("/login", {"email": user.email, "password": "x"}).status_code == 200


# --- audit, connected apps, profile ---


def test_audit_log_records_who_what_when_where(client, user):
    client.post("/login", {"email": user.email, "password": "wrong"}, REMOTE_ADDR="192.0.2.1",
                HTTP_USER_AGENT="TestBrowser/1")  # fmt: skip
    password_step(client, user)
    client.post("/logout")

    failed = AuditEvent.objects.get(event="login_failed")
    assert failed.user == user
    assert failed.ip_address == "192.0.2.1"
    assert failed.user_agent == "TestBrowser/1"
    assert failed.at is not None
    events = set(AuditEvent.objects.values_list("event", flat=True))
    assert {"login_failed", "login_succeeded", "session_ended"} <= events


def test_audit_events_are_append_only():
    event = AuditEvent.objects.create(event="test")

    event.event = "tampered"
    with pytest.raises(ValueError, match="append-only"):
        event.save()


def test_operator_actions_are_audited(user):
    from clients import services
    from idp.services import keys

    client, _ = services.client_create(name="Audited", redirect_uris=["https://a.example/cb"])
    services.client_secret_rotate(client=client)
    services.client_disable(client=client)
    keys.signing_key_rotate()

    events = set(AuditEvent.objects.values_list("event", flat=True))
    assert {"client_created", "client_secret_rotated", "client_disabled",
            "signing_keys_rotated"} <= events  # fmt: skip


def test_admin_shows_the_audit_log_read_only(client, user):
    password_step(Browser(), user)
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)

    listing = client.get("/admin/accounts/auditevent/", {"q": user.email})

    assert listing.status_code == 200
    assert "login_succeeded" in listing.content.decode()
    event = AuditEvent.objects.first()
    assert client.post(f"/admin/accounts/auditevent/{event.pk}/delete/").status_code == 403


def test_connected_apps_can_be_disconnected(signed_in, user):
    app = make_rp(skip_consent=False)
    consent_page = signed_in.get("/authorize", app.authorize_params(scope="openid offline_access"))
    approved = signed_in.post("/authorize/continue", {"request": consent_page.context["rid"],
                                                      "decision": "approve"})  # fmt: skip
    body = app.redeem(signed_in, query_of(approved["Location"])["code"]).json()
    assert "Example RP" in signed_in.get("/account").content.decode()

    signed_in.post(f"/account/apps/{app.client_id}/revoke")

    assert not Consent.objects.filter(user=user).exists()
    assert RefreshToken.objects.get().revoked_at is not None
    assert body["refresh_token"]
    assert AuditEvent.objects.filter(event="consent_revoked").exists()


def test_profile_edit_changes_the_claims_apps_receive(signed_in, user, rp):
    signed_in.post("/account/profile", {"given_name": "Augusta", "family_name": "King",
                                        "locale": "en-GB"})  # fmt: skip

    access = tokens_for(signed_in, rp)["access_token"]
    info = signed_in.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").json()
    assert info["given_name"] == "Augusta"
    assert info["name"] == "Augusta King"
    assert info["locale"] == "en-GB"


def test_a_passkey_only_user_can_get_and_use_recovery_codes(signed_in, user, client):
    from accounts.models import WebAuthnCredential

    WebAuthnCredential.objects.create(user=user, credential_id="cred-1", public_key="pk")
    blocked = signed_in.post("/account/mfa/recovery-codes")
    assert blocked["Location"].startswith("/login/mfa")  # one factor cannot mint a second
    session = signed_in.session
    session["portcullis_amr"] = ["pwd", "hwk", "mfa"]  # as after the passkey second step
    session.save()
    page = signed_in.post("/account/mfa/recovery-codes")
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", page.content.decode())
    signed_in.post("/logout")

    password_step(client, user)
    second_step = client.get("/login/mfa")
    done = client.post("/login/mfa", {"recovery_code": codes[0]})

    assert len(codes) == 10
    assert "Recovery code" in second_step.content.decode()
    assert done["Location"] == "/account"


def test_a_one_factor_session_cannot_remove_or_mint_second_factors(signed_in, user):
    """Signed in with a password before the authenticator was added elsewhere: this session
    must verify the second step before it may change the factors (review finding)."""
    other = Browser()
    password_step(other, user)
    enrol(other, user)

    remove = signed_in.post("/account/mfa/totp/remove")
    mint = signed_in.post("/account/mfa/recovery-codes")

    assert remove["Location"].startswith("/login/mfa")
    assert mint["Location"].startswith("/login/mfa")
    assert TOTPDevice.objects.filter(user=user).exists()
    assert mfa.recovery_codes_left(user) == 10


def test_a_pending_second_step_ends_when_someone_else_signs_in(client, user, enrolled):
    other = UserFactory()
    password_step(client, user)  # user's second step is now pending in this browser

    password_step(client, other)

    page = client.get("/login/mfa")
    assert user.email not in page.content.decode()


def test_parallel_guesses_are_all_counted():
    from accounts.throttle import throttle_check

    verdicts = [throttle_check(kind="t", account="a@example.test", ip="192.0.2.9")
                for _ in range(10)]  # fmt: skip

    assert [v.allowed for v in verdicts[:5]] == [True] * 5
    assert not any(v.allowed for v in verdicts[6:])
