"""Passkeys in headless Chromium, with a CDP virtual authenticator standing in for the
fingerprint reader: register one on the account page, then sign in with it, without a
password and as the second step.

WebAuthn refuses an IP address as the RP ID, so the live server is addressed as
"localhost" and the issuer (from which the RP ID and origin come) is set to match.
"""

import pytest

from accounts.models import SSOSession, WebAuthnCredential
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def base_url(live_server, settings) -> str:
    url = live_server.url.replace("127.0.0.1", "localhost")
    settings.IDP_ISSUER = url
    return url


@pytest.fixture
def authenticator(page) -> tuple:
    """A user-verifying platform authenticator that holds discoverable credentials."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


@pytest.fixture
def console_errors(page) -> list[str]:
    """Errors the page logs: a CSP violation (an inline script) would show up here."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error"
            else None)  # fmt: skip
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def sign_in_with_password(page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def register_passkey(page, base_url: str, name: str) -> None:
    page.get_by_label("Name for a new passkey").fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    page.get_by_test_id("passkeys").get_by_text(name).wait_for()


def sign_out(page) -> None:
    page.locator("form[action='/logout'] button").click()
    page.wait_for_url("**/logout")


def test_user_registers_a_passkey_and_signs_in_without_a_password(
    base_url, page, authenticator, console_errors, tmp_path
):
    cdp, authenticator_id = authenticator
    user = UserFactory(email="hedy@example.test", given_name="Hedy")
    sign_in_with_password(page, base_url, user.email)
    page.wait_for_url(f"{base_url}/account")

    register_passkey(page, base_url, "Virtual key")

    passkey = WebAuthnCredential.objects.get(user=user)
    assert passkey.name == "Virtual key"
    assert passkey.is_discoverable
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    assert [c["isResidentCredential"] for c in stored["credentials"]] == [True]
    page.screenshot(path=tmp_path / "passkey-registered.png", full_page=True)

    sign_out(page)
    page.goto(f"{base_url}/login?next=/account")
    page.get_by_role("button", name="Use a passkey").click()

    page.wait_for_url(f"{base_url}/account")
    assert page.get_by_test_id("account-email").inner_text() == "hedy@example.test"
    amr = SSOSession.objects.filter(user=user).latest("created_at").amr
    assert amr == ["hwk", "mfa"]  # the virtual authenticator verifies the user
    passkey.refresh_from_db()
    assert passkey.last_used_at is not None
    assert "never used" not in page.get_by_test_id("passkeys").inner_text()
    page.screenshot(path=tmp_path / "passkey-signed-in.png", full_page=True)
    assert (tmp_path / "passkey-signed-in.png").stat().st_size > 0
    assert console_errors == []


def test_passkey_is_the_second_step_after_the_password(
    base_url, page, authenticator, console_errors, tmp_path
):
    user = UserFactory(email="lise@example.test")
    sign_in_with_password(page, base_url, user.email)
    page.wait_for_url(f"{base_url}/account")
    register_passkey(page, base_url, "Second step")
    sign_out(page)

    sign_in_with_password(page, base_url, user.email)
    page.wait_for_url(f"{base_url}/login/mfa*")
    page.get_by_role("button", name="Use a passkey").click()

    page.wait_for_url(f"{base_url}/account")
    amr = SSOSession.objects.filter(user=user).latest("created_at").amr
    assert amr == ["pwd", "hwk", "mfa"]
    page.screenshot(path=tmp_path / "passkey-second-step.png", full_page=True)
    assert console_errors == []


def test_passkey_buttons_stay_hidden_without_webauthn(base_url, browser):
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{base_url}/login")
        assert page.get_by_role("button", name="Sign in", exact=True).is_visible()
        assert not page.get_by_role("button", name="Use a passkey").is_visible()
    finally:
        context.close()
