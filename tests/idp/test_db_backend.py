"""The PostgreSQL backend's health check (idp/db/postgresql): no round trip for a live idle
connection, and a connection the server closed is noticed and replaced before a request
uses it. PostgreSQL only."""

import time

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper as DjangoWrapper
from django.test import Client

from tests.idp.conftest import postgresql_only, sql_value

pytestmark = [pytest.mark.django_db(transaction=True), postgresql_only]


def backend_pid() -> int:
    return sql_value("SELECT pg_backend_pid()")


def terminate(pid: int) -> None:
    """pg_terminate_backend from a connection of its own, as an operator or a restart would."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the server's goodbye reaches our socket


def test_a_live_idle_connection_is_usable_without_a_query(monkeypatch):
    backend_pid()  # connected, idle
    asked = []
    monkeypatch.setattr(DjangoWrapper, "is_usable", lambda self: asked.append(1) or True)

    assert connection.is_usable()
    assert asked == []  # no SELECT 1 sent


def test_a_connection_the_server_closed_is_not_usable():
    terminate(backend_pid())

    assert connection.connection is not None
    assert not connection.is_usable()
    connection.close()  # what Django does with an unusable one


def test_a_request_after_the_server_closed_the_connection_gets_a_fresh_one(rp):
    first = backend_pid()
    terminate(first)
    connection.close_if_unusable_or_obsolete()  # what a request's start runs

    response = Client().get("/userinfo", HTTP_AUTHORIZATION="Bearer not-a-token")

    assert response.status_code == 401  # answered: the token lookup ran on a new connection
    assert backend_pid() != first
