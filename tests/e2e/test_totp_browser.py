"""A person turns on two-step verification and signs in with it, in headless Chromium."""

import time

import pyotp
import pytest

from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_enrol_totp_then_sign_in_with_it(live_server, page, tmp_path):
    user = UserFactory(email="hedy@example.test")

    page.goto(f"{live_server.url}/login")
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/account")

    page.get_by_role("link", name="Set up an authenticator app").click()
    assert page.get_by_test_id("totp-qr").locator("img").is_visible()
    secret = page.get_by_test_id("totp-secret").inner_text()
    totp = pyotp.TOTP(secret)
    page.get_by_label("Code from the app").fill(totp.now())
    page.get_by_role("button", name="Turn on two-step verification").click()
    codes = page.get_by_test_id("recovery-codes").locator("code").all_inner_texts()
    assert len(codes) == 10
    page.screenshot(path=tmp_path / "recovery-codes.png", full_page=True)
    page.get_by_role("link", name="I have saved them").click()

    page.get_by_role("button", name="Sign out", exact=True).last.click()
    page.goto(f"{live_server.url}/login")
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/login/mfa*")
    page.screenshot(path=tmp_path / "second-step.png", full_page=True)
    # The enrolment used the current code and a code is good once: the next time step's code
    # (a phone a few seconds ahead) is what a person would type now.
    page.get_by_label("Code from your authenticator app").fill(totp.at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()

    page.wait_for_url(f"{live_server.url}/account")
    assert page.get_by_test_id("account-email").inner_text() == user.email
    assert "10 recovery codes left" in page.content()
