"""Security headers and cookie attributes on our pages."""

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/login", "/does-not-exist"])
def test_html_pages_carry_security_headers(client, path):
    response = client.get(path)

    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_not_found_page_is_our_own(client):
    response = client.get("/does-not-exist")

    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_session_cookie_is_httponly_and_samesite_lax(client, user, password):
    response = client.post("/login", {"email": user.email, "password": password})

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


def test_pages_that_show_personal_data_are_not_cached(client, user):
    client.force_login(user)

    response = client.get("/account")

    assert "no-store" in response["Cache-Control"] or "private" in response["Cache-Control"]
