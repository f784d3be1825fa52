"""Fixtures for client tests."""

import pytest

from clients import services


@pytest.fixture
def confidential(db):
    client, secret = services.client_create(
        name="Wiki", redirect_uris=["https://wiki.example/callback"]
    )
    client.plain_secret = secret
    return client


@pytest.fixture
def staff_client(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client
