"""A person signs in through the real login page in headless Chromium."""

import pytest

from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_user_signs_in_through_the_login_page(live_server, page, tmp_path):
    user = UserFactory(email="grace@example.test", given_name="Grace")

    page.goto(f"{live_server.url}/account")
    assert page.url == f"{live_server.url}/login?next=/account"
    assert page.get_by_role("heading", name="Sign in").is_visible()
    # The stylesheet loaded from our own static files (no CDN): the card has its border.
    assert page.locator("main.card").evaluate("e => getComputedStyle(e).borderRadius") == "10px"

    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"{live_server.url}/account")
    assert page.get_by_test_id("account-email").inner_text() == "grace@example.test"
    page.screenshot(path=tmp_path / "signed-in.png", full_page=True)
    assert (tmp_path / "signed-in.png").stat().st_size > 0


def test_wrong_password_in_the_browser_shows_the_generic_error(live_server, page, tmp_path):
    UserFactory(email="alan@example.test")

    page.goto(f"{live_server.url}/login")
    page.get_by_label("Email address").fill("alan@example.test")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()

    alert = page.get_by_role("alert")
    assert "couldn't sign you in" in alert.inner_text()
    page.screenshot(path=tmp_path / "login-error.png", full_page=True)
