"""The per-process copies of clients and signing keys (idp/memo.py): fast, and never wrong
for longer than IDP_LOCAL_CACHE_TTL."""

from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import override_settings

from clients import services as client_services
from clients.models import Client
from idp.memo import VersionedMemo
from tests.idp.conftest import make_rp

pytestmark = pytest.mark.django_db


def client_credentials(http, rp):
    return http.post(
        "/token",
        urlencode({"grant_type": "client_credentials"}),
        content_type="application/x-www-form-urlencoded",
        **rp.basic_auth(),
    )


@pytest.fixture
def service(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return make_rp(name="Service", grant_types=["client_credentials"], response_types=[],
                       scopes=["profile"])  # fmt: skip


def test_client_disabled_here_is_refused_at_once(client, service):
    assert client_credentials(client, service).status_code == 200  # now in the copies

    client_services.client_disable(client=service.client)

    response = client_credentials(client, service)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@override_settings(IDP_LOCAL_CACHE_TTL=3600)
def test_change_by_another_process_waits_for_the_version_check(client, service):
    assert client_credentials(client, service).status_code == 200
    # Another process disables the client: the row changes and, on its commit, the shared
    # version is bumped. This process trusts its copy until it looks at the version again.
    Client.objects.filter(pk=service.client.pk).update(is_enabled=False)
    cache.set("clients:version", "bumped-elsewhere", timeout=None)

    assert client_credentials(client, service).status_code == 200

    client_services._enabled_clients.version.forget()  # what IDP_LOCAL_CACHE_TTL ends in
    assert client_credentials(client, service).status_code == 401


@override_settings(IDP_LOCAL_CACHE_TTL=0)
def test_change_by_another_process_is_seen_at_the_next_check(client, service):
    assert client_credentials(client, service).status_code == 200
    Client.objects.filter(pk=service.client.pk).update(is_enabled=False)
    cache.set("clients:version", "bumped-elsewhere-2", timeout=None)

    assert client_credentials(client, service).status_code == 401


def test_unknown_clients_are_not_remembered(client, service, django_capture_on_commit_callbacks):
    assert client_services.client_get_enabled("no-such-client") is None
    with django_capture_on_commit_callbacks(execute=True):
        created = make_rp(name="Late", grant_types=["client_credentials"], response_types=[],
                          scopes=["profile"])  # fmt: skip
    assert client_services.client_get_enabled(created.client.client_id) is not None


@pytest.mark.django_db(transaction=True)
def test_uncommitted_change_never_reaches_the_copies():
    memo = VersionedMemo("test:memo:version")
    rows = {"value": "committed"}

    def load():
        return rows["value"]

    assert memo.get("k", load) == "committed"
    seen_inside = []

    def change_then_roll_back():
        with transaction.atomic():
            rows["value"] = "uncommitted"
            memo.invalidate()
            # Inside the changing transaction, lookups read through and store nothing.
            seen_inside.append(memo.get("k", load))
            rows["value"] = "committed"  # the rollback below restores the row
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        change_then_roll_back()
    assert seen_inside == ["uncommitted"]
    # Outside any transaction the copies are rebuilt from committed data.
    assert memo.get("k", load) == "committed"
    rows["value"] = "changed without telling"
    assert memo.get("k", load) == "committed"  # a copy, until the version moves


@pytest.mark.django_db(transaction=True)
def test_committed_change_bumps_the_shared_version():
    memo = VersionedMemo("test:memo:version2")
    before = memo.version.get()
    with transaction.atomic():
        memo.invalidate()
        assert cache.get("test:memo:version2") == before  # not before the commit
    assert cache.get("test:memo:version2") != before
