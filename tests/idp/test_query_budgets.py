"""Query budgets of the hot paths: structural, not timed. A change that adds a query to the
token endpoint, userinfo, introspection or a signed-in authorization fails here."""

from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from idp.services import keys
from tests.idp.conftest import make_rp, postgresql_only, query_of, sql_value

pytestmark = pytest.mark.django_db

# Budgets: the number of SQL statements each request may run, warm (keys parsed, clients
# in the process's copies). Transaction bookkeeping (SAVEPOINT/RELEASE, and on PostgreSQL the
# SET LOCAL synchronous_commit of idp/durability.py) is not counted.
# Clients come from the per-process copies (clients.services.client_get_enabled): no query.
# A record and its user are one lookup, a join whose SQL is compiled once per process
# (idp/services/compiled.py). Budgets are exact: a path that needs fewer queries lowers its
# budget in the same change, so the next query added to it fails here.
BUDGETS = {
    # the sign-in session with its user (accounts.middleware), the code insert; the browser
    # session comes from Redis (without Redis: one query more), and the app was linked to
    # the sign-in session by the first authorization (accounts.sessions)
    "authorize": 2,
    # the code with its user; its claim and the refresh and access tokens, all or nothing, in
    # one statement on PostgreSQL (idp.durability.issuing); elsewhere one statement each
    "token_code": 2,
    "token_refresh": 2,  # the refresh token with its user; claim and new tokens (as above)
    "token_client_credentials": 0,  # a self-contained JWT: nothing stored (idp.services.tokens)
    "userinfo": 1,  # the token with its user
    "introspection": 1,  # the token with its user
    "discovery": 0,
    "jwks": 0,
}


def counted(run) -> int:
    with CaptureQueriesContext(connection) as queries:
        run()

    return sum(
        1
        for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "SET LOCAL synchronous_commit"))
    )


def form(http, path, data, relying_party):
    return http.post(path, urlencode(data), content_type="application/x-www-form-urlencoded",
                     **relying_party.basic_auth())  # fmt: skip


@pytest.fixture
def warm(db):
    """Keys created and parsed, as in a process that has served a request already."""
    for alg in ("RS256", "ES256", "EdDSA"):
        keys.jwt_sign({"warm": True}, alg=alg)


def test_hot_paths_stay_within_their_query_budgets(
    warm, signed_in, rp, django_capture_on_commit_callbacks
):
    # Committed, as every client is by the time a request names it (this test's own
    # transaction never commits: run what commit would).
    with django_capture_on_commit_callbacks(execute=True):
        api = make_rp(name="API", grant_types=["client_credentials"], response_types=[],
                      scopes=["profile"], is_resource_server=True)  # fmt: skip
    rp_http = Client()  # the RP's own HTTP client: no browser cookies
    with django_capture_on_commit_callbacks(execute=True):  # warm, and committed
        signed_in.get("/authorize", rp.authorize_params(scope="openid offline_access"))
    params = rp.authorize_params(scope="openid offline_access")  # (sets the PKCE verifier)
    measured = {}
    holder = {}

    measured["authorize"] = counted(
        lambda: holder.update(response=signed_in.get("/authorize", params)))  # fmt: skip
    code = query_of(holder["response"]["Location"])["code"]
    measured["token_code"] = counted(
        lambda: holder.update(tokens=rp.redeem(rp_http, code).json()))  # fmt: skip
    refresh = {"grant_type": "refresh_token", "refresh_token": holder["tokens"]["refresh_token"]}
    measured["token_refresh"] = counted(
        lambda: holder.update(refreshed=form(rp_http, "/token", refresh, rp).json()))  # fmt: skip
    access = holder["refreshed"]["access_token"]
    # Warm: each client looked up once, by client_id and (from a token record) by id.
    form(rp_http, "/token", {"grant_type": "client_credentials"}, api)
    rp_http.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}")
    measured["token_client_credentials"] = counted(
        lambda: form(rp_http, "/token", {"grant_type": "client_credentials"}, api))  # fmt: skip
    measured["userinfo"] = counted(
        lambda: rp_http.get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}"))  # fmt: skip
    measured["introspection"] = counted(
        lambda: form(rp_http, "/introspect", {"token": access}, api))  # fmt: skip

    rp_http.get("/jwks.json")
    rp_http.get("/.well-known/openid-configuration")
    measured["discovery"] = counted(lambda: rp_http.get("/.well-known/openid-configuration"))
    measured["jwks"] = counted(lambda: rp_http.get("/jwks.json"))

    assert "access_token" in holder["refreshed"]
    budgets = dict(BUDGETS)
    if not settings.REDIS_URL:
        budgets["authorize"] += 1  # the browser session, read from the database
    if connection.vendor != "postgresql":
        budgets["token_code"] += 2  # the claim and the two new tokens apart
        budgets["token_refresh"] += 2
    off = {k: (measured[k], budgets[k]) for k in budgets if measured[k] != budgets[k]}
    assert not off, f"off budget (measured, budget): {off}; all: {measured}"


@postgresql_only
def test_a_hot_query_is_planned_once_per_connection(warm, signed_in, rp):
    """PostgreSQL parses and plans a repeated statement once: psycopg prepares it (Django
    leaves that off unless asked; idp.settings asks)."""
    callback = signed_in.get("/authorize", rp.authorize_params(scope="openid"))["Location"]
    access = rp.redeem(Client(), query_of(callback)["code"]).json()["access_token"]

    def prepared_lookups() -> int:
        return sql_value(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%FROM "idp_token" LEFT OUTER JOIN "accounts_user"%'],
        )

    before = prepared_lookups()
    for _ in range(settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"] + 1):
        assert Client().get("/userinfo", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200
    assert prepared_lookups() == before + 1
