"""The authentication backend (accounts/backends.py): a signed-in request loads its user
with its sign-in session, in one lookup; sessions signed in under Django's ModelBackend name
keep working; an inactive user's session stops working."""

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


def test_a_signed_in_request_loads_its_user_and_sign_in_session_in_one_lookup(signed_in):
    assert signed_in.session[BACKEND_SESSION_KEY] == "accounts.backends.UserBackend"
    signed_in.get("/account")
    with CaptureQueriesContext(connection) as queries:
        response = signed_in.get("/account")
    assert response.status_code == 200
    user_queries = [q["sql"] for q in queries.captured_queries if '"accounts_user"' in q["sql"]
                    and q["sql"].startswith("SELECT")]  # fmt: skip
    assert len(user_queries) == 1
    assert 'FROM "accounts_ssosession" INNER JOIN "accounts_user"' in user_queries[0]


def test_a_session_signed_in_under_modelbackend_keeps_working(signed_in):
    session = signed_in.session
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session.save()

    response = signed_in.get("/account")

    assert response.status_code == 200  # still signed in
    assert signed_in.session[BACKEND_SESSION_KEY] == "accounts.backends.UserBackend"


def test_a_deactivated_user_is_signed_out(signed_in, user):
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = signed_in.get("/account")

    assert response.status_code == 302
    assert response["Location"].startswith("/login")
