"""The authentication backend: Django's ModelBackend, with the per-request user lookup (the
session's user, loaded by AuthenticationMiddleware on every signed-in request) a compiled
statement (idp.services.compiled) instead of a queryset built anew each time - or no
statement at all when the request's sign-in session was already read with its user joined
(accounts.middleware.SSOSessionMiddleware, `user_known()`). Django's own checks of the
session (backend, session auth hash) run as usual either way."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError

from idp.services.compiled import first_row

# The session's name for this backend, and the one sessions signed in before it carry.
USER_BACKEND = "accounts.backends.UserBackend"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"

_known = ContextVar("portcullis_known_user", default=None)


@contextmanager
def user_known(user) -> Iterator[None]:
    """While this lasts, get_user() of `user`'s id returns `user` without a query."""
    token = _known.set(user)
    try:
        yield
    finally:
        _known.reset(token)


class UserBackend(ModelBackend):
    def get_user(self, user_id):
        model = get_user_model()
        try:
            pk = model._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        if pk is None:
            return None
        known = _known.get()
        user = known if known is not None and known.pk == pk else first_row(model, pk=pk)
        return user if user is not None and self.user_can_authenticate(user) else None
