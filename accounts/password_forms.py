"""Forms of password reset, password change and email change (Django's own, bounded)."""

from django import forms
from django.contrib.auth.forms import PasswordChangeForm, PasswordResetForm, SetPasswordForm
from django.core.validators import MaxLengthValidator
from django.utils.translation import gettext_lazy as _

from accounts.models import User, email_normalize

# As on the sign-in form: nobody gets to make the password hasher chew on megabytes.
PASSWORD_MAX_LENGTH = 1024


def _bound_passwords(form: forms.Form, *names: str) -> None:
    for name in names:
        field = form.fields[name]
        field.max_length = PASSWORD_MAX_LENGTH
        field.validators.append(MaxLengthValidator(PASSWORD_MAX_LENGTH))
        field.widget.attrs["maxlength"] = str(PASSWORD_MAX_LENGTH)


class PasswordResetRequestForm(PasswordResetForm):
    """Only the email field is used; sending is done by accounts.password_services."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].label = _("Email address")
        self.fields["email"].widget.attrs.update(
            {"autocomplete": "username", "autofocus": True, "autocapitalize": "none"}
        )


class PasswordSetForm(SetPasswordForm):
    """A new password, twice, checked against AUTH_PASSWORD_VALIDATORS."""

    def __init__(self, user: User, *args, **kwargs) -> None:
        super().__init__(user, *args, **kwargs)
        _bound_passwords(self, "new_password1", "new_password2")
        self.fields["new_password1"].widget.attrs["autofocus"] = True


class PasswordChangeBoundedForm(PasswordChangeForm):
    """The current password, and a new one twice, checked against the validators."""

    def __init__(self, user: User, *args, **kwargs) -> None:
        super().__init__(user, *args, **kwargs)
        _bound_passwords(self, "old_password", "new_password1", "new_password2")


class EmailChangeForm(forms.Form):
    """A new address, confirmed with the current password. Whether the address is taken is
    not said here (that would tell who has an account); the verification step checks it."""

    new_email = forms.EmailField(
        label=_("New email address"),
        max_length=254,
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "autofocus": True, "autocapitalize": "none"}
        ),
    )
    password = forms.CharField(
        label=_("Current password"),
        max_length=PASSWORD_MAX_LENGTH,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, user: User, *args, **kwargs) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_new_email(self) -> str:
        email = email_normalize(self.cleaned_data["new_email"])
        if email == self.user.email:
            raise forms.ValidationError(
                _("That is already your email address."), code="email_unchanged"
            )
        return email

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(
                _("Your password was entered incorrectly. Please enter it again."),
                code="password_incorrect",
            )
        return password
