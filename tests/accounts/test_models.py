"""The user model's invariants."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_user_email_is_stored_lower_case():
    user = User.objects.create_user("Ada.Lovelace@Example.TEST", "pw-long-enough-1")

    user.refresh_from_db()
    assert user.email == "ada.lovelace@example.test"


def test_user_email_is_unique_whatever_its_case():
    User.objects.create_user("ada@example.test", "pw-long-enough-1")

    with pytest.raises(ValidationError):
        User.objects.create_user("ADA@example.test", "pw-long-enough-1")


def test_database_refuses_mixed_case_email_written_around_the_model():
    user = User.objects.create_user("ada@example.test", "pw-long-enough-1")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(email="Ada@example.test")


def test_user_without_password_cannot_sign_in():
    user = User.objects.create_user("nopw@example.test")

    assert not user.has_usable_password()
