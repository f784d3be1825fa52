"""The authentication backend: Django's ModelBackend, with the per-request user lookup (the
session's user, loaded by AuthenticationMiddleware on every signed-in request) a compiled
statement (idp.services.compiled) instead of a queryset built anew each time."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError

from idp.services.compiled import first_row


class UserBackend(ModelBackend):
    def get_user(self, user_id):
        model = get_user_model()
        try:
            pk = model._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        if pk is None:
            return None
        user = first_row(model, pk=pk)
        return user if user is not None and self.user_can_authenticate(user) else None
