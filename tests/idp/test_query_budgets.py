"""Query budgets of the hot paths: structural, not timed. A change that adds a query to the
token endpoint, userinfo, introspection or a signed-in authorization fails here."""

import re
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


def _generic_plan_scans(sql: str, params: list) -> list[tuple[str, str]]:
    """(table, index name or "seq scan") for each scan of the plan PostgreSQL runs a
    prepared statement with once it stops planning per call (its generic plan)."""
    numbers = iter(range(1, len(params) + 1))
    body = re.sub(r"%s", lambda _m: f"${next(numbers)}", sql)
    # A generic plan is the same for any values: NULLs will do.
    arguments = f"({', '.join(['NULL'] * len(params))})" if params else ""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute(f"PREPARE portcullis_plan_check AS {body}")
        cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE portcullis_plan_check{arguments}")
        plan = cursor.fetchone()[0]
        cursor.execute("DEALLOCATE portcullis_plan_check")
    scans, stack = [], [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        stack.extend(node.get("Plans", []))
        if "Index Name" in node:
            scans.append((node["Relation Name"], node["Index Name"]))
        elif node["Node Type"] == "Seq Scan":
            scans.append((node["Relation Name"], "seq scan"))
    return scans


INDEX_COLUMNS = """
    SELECT c.relname, i.indisunique,
           array(SELECT a.attname FROM unnest(i.indkey) k
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = %s::regclass"""


def _unique_keyed(table: str, index: str) -> bool:
    """Do `index`'s columns include a unique key of `table` (a lookup on it reads one row)?"""
    with connection.cursor() as cursor:
        cursor.execute(INDEX_COLUMNS, [table])
        indexes = {name: (unique, set(columns)) for name, unique, columns in cursor.fetchall()}
    columns = indexes[index][1]
    return any(unique and key <= columns for unique, key in indexes.values())


@postgresql_only
def test_hot_lookups_read_one_row_whatever_the_statistics(warm, signed_in, user):
    """Each lookup of the hot paths is planned on a unique key even with no statistics
    (a new deployment, or autovacuum off) and as a generic plan (a prepared statement
    after its first executions): never on an index of the client or the user, which would
    read every token the client holds on every request."""
    from django.utils import timezone

    from idp.models import AuthorizationCode, RefreshToken, Token
    from idp.services.consent import consent_grant

    relying_party = make_rp(skip_consent=False)
    consent_grant(user=user, client=relying_party.client, scopes=["openid", "offline_access"])
    now, later = timezone.now(), timezone.now() + timezone.timedelta(hours=1)
    n = 400  # tokens the client already holds
    common = {"client": relying_party.client, "user": user, "issued_at": now, "expires_at": later}
    RefreshToken.objects.bulk_create(
        RefreshToken(token_hash=f"r{i:063}", family=f"f{i % 4}", auth_time=0,
                     family_expires_at=later, **common)
        for i in range(n)
    )  # fmt: skip
    Token.objects.bulk_create(
        Token(token_hash=f"t{i:063}", format="opaque", family=f"f{i % 4}", **common)
        for i in range(n)
    )
    codes = {k: v for k, v in common.items() if k != "issued_at"} | {"created_at": now}
    AuthorizationCode.objects.bulk_create(
        AuthorizationCode(code_hash=f"c{i:063}", redirect_uri="x", auth_time=0, **codes)
        for i in range(n)
    )

    statements: list[tuple[str, list]] = []

    def capture(execute, sql, params, many, context):
        if sql.startswith(("SELECT", "UPDATE", "WITH")) and "pg_" not in sql:
            statements.append((sql, list(params or ())))
        return execute(sql, params, many, context)

    rp_http = Client()
    with connection.execute_wrapper(capture):
        params = relying_party.authorize_params(scope="openid offline_access")
        callback = signed_in.get("/authorize", params)["Location"]
        tokens = relying_party.redeem(rp_http, query_of(callback)["code"]).json()
        refreshed = form(rp_http, "/token", {"grant_type": "refresh_token",
                                             "refresh_token": tokens["refresh_token"]},
                         relying_party).json()  # fmt: skip
        bearer = f"Bearer {refreshed['access_token']}"
        assert rp_http.get("/userinfo", HTTP_AUTHORIZATION=bearer).status_code == 200

    tables = {"idp_refreshtoken", "idp_token", "idp_authorizationcode", "idp_consent",
              "accounts_ssosession", "accounts_user", "clients_client"}  # fmt: skip
    scanned = {scan for sql, p in statements for scan in _generic_plan_scans(sql, p)}
    looked_up = {table for table, _ in scanned}
    assert {"idp_refreshtoken", "idp_token", "idp_authorizationcode", "idp_consent"} <= looked_up
    wrong = {(table, index) for table, index in scanned if table in tables
             and (index == "seq scan" or not _unique_keyed(table, index))}  # fmt: skip
    assert not wrong, f"hot lookups planned off a unique key: {sorted(wrong)}"
