"""Health, readiness, metrics, request ids and structured logs."""

import json
import logging

import pytest

from idp.logging import JsonFormatter, RequestIdFilter, request_id_var

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_any_io(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_keys_and_redis(client, settings):
    response = client.get("/readyz")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["signing_keys"] == "ok"
    assert ("redis" in body["checks"]) == bool(settings.REDIS_URL)


def test_readyz_is_503_when_a_dependency_fails(client, monkeypatch):
    def broken():
        raise ConnectionError("database is down")

    monkeypatch.setattr("idp.health._check_database", broken)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "error: ConnectionError"


def test_metrics_for_a_private_scraper_include_our_counters(client, rp, signed_in):
    from tests.idp.conftest import query_of

    code = query_of(signed_in.get("/authorize", rp.authorize_params())["Location"])["code"]
    rp.redeem(signed_in, code)

    response = client.get("/metrics")

    body = response.content.decode()
    assert response.status_code == 200
    assert "portcullis_tokens_issued_total" in body
    assert f'client_id="{rp.client_id}"' in body
    assert "portcullis_logins_total" in body
    assert "portcullis_signing_key_age_seconds" in body
    assert "django_http_requests_total_by_view_transport_method" in body


def test_metrics_are_closed_to_public_addresses(client):
    # Only a REMOTE_ADDR value in the test client: nothing is sent anywhere.
    assert client.get("/metrics", REMOTE_ADDR="1.1.1.1").status_code == 403


def test_metrics_token_when_configured(client, settings):
    settings.IDP_METRICS_TOKEN = "scrape-me"

    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200


def test_every_response_carries_a_request_id(client):
    fresh = client.get("/healthz")
    kept = client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234abcd")
    replaced = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")

    assert len(fresh["X-Request-ID"]) == 32
    assert kept["X-Request-ID"] == "lb-1234abcd"
    assert replaced["X-Request-ID"] != "bad id with spaces"


def test_json_log_lines_carry_the_request_id():
    record = logging.LogRecord("portcullis.test", logging.INFO, __file__, 1, "hello %s",
                               ("world",), None)  # fmt: skip
    token = request_id_var.set("req-42")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)

    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42"
    assert line["message"] == "hello world"
    assert line["level"] == "INFO"
