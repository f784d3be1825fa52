"""The admin form for clients: list fields edited as one value per line."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from clients.models import Client, default_grant_types, default_response_types, default_scopes


class LinesField(forms.CharField):
    """A list of strings, edited one per line."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 80, "spellcheck": "false"})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class ScopesField(forms.CharField):
    """Scope names separated by spaces."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return " ".join(value)
        return value

    def to_python(self, value):
        return (super().to_python(value) or "").split()


class ClientAdminForm(forms.ModelForm):
    redirect_uris = LinesField(
        label=_("Redirect URIs"),
        required=False,
        help_text=_(
            "One per line, matched exactly. https, or http only for 127.0.0.1, [::1] and "
            "localhost (any port); native apps may use a reverse-domain scheme "
            "(com.example.app:/cb). No fragments, no wildcards."
        ),
    )
    post_logout_redirect_uris = LinesField(
        label=_("Post-logout redirect URIs"), required=False, help_text=_("One per line.")
    )
    contacts = LinesField(label=_("Contacts"), required=False, help_text=_("One email per line."))
    resources = LinesField(
        label=_("Resources (audiences)"),
        required=False,
        help_text=_("APIs this app may request tokens for (RFC 8707), one URI per line."),
    )
    scopes = ScopesField(
        label=_("Allowed scopes"),
        required=False,
        initial=default_scopes,
        help_text=_("Separated by spaces, e.g. openid profile email offline_access."),
    )
    grant_types = forms.MultipleChoiceField(
        label=_("Grant types"),
        choices=Client.GrantType.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=default_grant_types,
    )
    response_types = forms.MultipleChoiceField(
        label=_("Response types"),
        choices=Client.ResponseType.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        initial=default_response_types,
    )

    class Meta:
        model = Client
        fields = (
            "name", "logo_uri", "client_uri", "policy_uri", "tos_uri", "contacts",
            "redirect_uris", "post_logout_redirect_uris",
            "client_type", "application_type", "token_endpoint_auth_method", "grant_types",
            "response_types", "scopes", "resources", "require_pkce", "skip_consent",
            "is_resource_server", "is_enabled",
            "id_token_signed_response_alg", "access_token_format", "access_token_lifetime",
            "id_token_lifetime", "refresh_token_lifetime",
            "backchannel_logout_uri", "backchannel_logout_session_required",
            "frontchannel_logout_uri", "frontchannel_logout_session_required",
        )  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        instance = self.instance
        if (
            instance.pk
            and instance.client_type != Client.Type.CONFIDENTIAL
            and cleaned.get("client_type") == Client.Type.CONFIDENTIAL
            and not instance.secret_hash
        ):
            raise ValidationError(
                {"client_type": _("A public client has no secret: register a new client.")}
            )
        return cleaned
