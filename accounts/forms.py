"""Sign-in forms."""

from django import forms
from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import User

# One message for every failure (unknown email, wrong password, disabled account), so the
# page never tells an attacker which accounts exist.
INVALID_CREDENTIALS = _(
    "We couldn't sign you in with that email address and password. Check them and try again."
)


class LoginForm(forms.Form):
    email = forms.CharField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(
            attrs={"autocomplete": "username", "autofocus": True, "autocapitalize": "none"}
        ),
    )
    # Bounded so that nobody can make the password hasher chew on megabytes.
    password = forms.CharField(
        label=_("Password"),
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, request: HttpRequest, *args, **kwargs) -> None:
        self.request = request
        self.user: User | None = None
        super().__init__(*args, **kwargs)

    def clean(self) -> dict:
        cleaned = super().clean()
        email, password = cleaned.get("email"), cleaned.get("password")
        if email is None or password is None:
            # A field failed its own validation: answer exactly like a wrong password.
            raise forms.ValidationError(INVALID_CREDENTIALS, code="invalid_login")
        # ModelBackend runs the password hasher even for unknown emails and inactive users,
        # so the three failures also take the same time.
        user = authenticate(self.request, email=email, password=password)
        if user is None:
            raise forms.ValidationError(INVALID_CREDENTIALS, code="invalid_login")
        self.user = user
        return cleaned

    def get_user(self) -> User | None:
        return self.user

    @property
    def non_field_error_list(self) -> list[str]:
        return [str(e) for e in self.non_field_errors()]


class ProfileForm(forms.ModelForm):
    """What a user may change about themselves (email changes need verification)."""

    class Meta:
        model = User
        fields = (
            "given_name", "middle_name", "family_name", "nickname", "preferred_username",
            "website", "picture", "birthdate", "zoneinfo", "locale", "phone_number",
            "address_street", "address_locality", "address_region", "address_postal_code",
            "address_country",
        )  # fmt: skip
