"""Fixtures shared by the whole suite."""

import pytest
from django.conf import settings
from django.core.cache import cache

from tests.factories import PASSWORD, UserFactory


def cache_clear() -> None:
    """Empty this run's cache without FLUSHDB, which would also wipe a shared Redis's queues."""
    if settings.REDIS_URL:
        client = cache._cache.get_client(write=True)
        prefix = settings.CACHES["default"]["KEY_PREFIX"]
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _clear_cache():
    """Every test starts with an empty cache and reloads the signing-key ring."""
    from idp.services.keys import key_ring_reset

    cache_clear()
    key_ring_reset()
    yield
    cache_clear()
    key_ring_reset()


@pytest.fixture
def live_issuer(live_server, settings) -> str:
    """A live server whose issuer is its own URL, as a real deployment's would be."""
    settings.IDP_ISSUER = live_server.url
    return live_server.url


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def signed_in(client, user, password):
    """The test client, signed in through the login page as `user`."""
    response = client.post("/login", {"email": user.email, "password": password})
    assert response.status_code == 302
    return client


@pytest.fixture
def rp(db):
    """A confidential relying party that skips consent (tests/idp/conftest.py: make_rp)."""
    from tests.idp.conftest import make_rp

    return make_rp(skip_consent=True)


def pytest_report_header(config) -> list[str]:
    """Say which real services this run uses, so a CI log proves it."""
    database = settings.DATABASES["default"]
    return [
        f"portcullis: database={database['ENGINE'].rsplit('.', 1)[-1]} "
        f"name={database.get('NAME')} redis={'yes' if settings.REDIS_URL else 'no'}"
    ]
