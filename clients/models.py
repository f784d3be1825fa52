"""The relying-party registry: every app that signs its users in through Portcullis."""

import re
from datetime import timedelta

from authlib.oauth2.rfc6749 import ClientMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from clients.credentials import client_id_generate, client_secret_hash, client_secret_verify
from clients.uris import (
    redirect_uri_matches,
    redirect_uri_validate,
    resource_validate,
    web_uri_validate,
)
from idp.conf import idp_settings

# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")

LIFETIME_BOUNDS = {
    "access_token_lifetime": (60, 24 * 3600),
    "id_token_lifetime": (60, 24 * 3600),
    "refresh_token_lifetime": (300, 365 * 24 * 3600),
}


def default_grant_types() -> list[str]:
    return ["authorization_code", "refresh_token"]


def default_response_types() -> list[str]:
    return ["code"]


def default_scopes() -> list[str]:
    return ["openid", "profile", "email", "offline_access"]


class Client(ClientMixin, models.Model):
    """A registered relying party, as Authlib's server sees it (ClientMixin)."""

    class Type(models.TextChoices):
        CONFIDENTIAL = "confidential", _("Confidential (server-side app with a secret)")
        PUBLIC = "public", _("Public (browser or native app, no secret, PKCE)")

    class ApplicationType(models.TextChoices):
        WEB = "web", _("Web")
        NATIVE = "native", _("Native")

    class AuthMethod(models.TextChoices):
        CLIENT_SECRET_BASIC = "client_secret_basic", "client_secret_basic"
        CLIENT_SECRET_POST = "client_secret_post", "client_secret_post"
        NONE = "none", _("none (public client, PKCE)")

    class GrantType(models.TextChoices):
        AUTHORIZATION_CODE = "authorization_code", "authorization_code"
        REFRESH_TOKEN = "refresh_token", "refresh_token"
        CLIENT_CREDENTIALS = "client_credentials", "client_credentials"

    class ResponseType(models.TextChoices):
        CODE = "code", "code"

    class SigningAlg(models.TextChoices):
        RS256 = "RS256", "RS256 (RSA)"
        ES256 = "ES256", "ES256 (ECDSA P-256)"
        EDDSA = "EdDSA", "EdDSA (Ed25519)"

    class AccessTokenFormat(models.TextChoices):
        JWT = "jwt", _("JWT (RFC 9068), verified by resource servers on their own")
        OPAQUE = "opaque", _("Opaque, checked through introspection")

    # --- identity ---
    client_id = models.CharField(
        max_length=100, unique=True, default=client_id_generate, editable=False
    )
    name = models.CharField(_("name"), max_length=200, help_text=_("Shown to users on consent."))
    logo_uri = models.CharField(_("logo URL"), max_length=2000, blank=True)
    client_uri = models.CharField(_("home page"), max_length=2000, blank=True)
    policy_uri = models.CharField(_("privacy policy URL"), max_length=2000, blank=True)
    tos_uri = models.CharField(_("terms of service URL"), max_length=2000, blank=True)
    contacts = models.JSONField(_("contacts"), default=list, blank=True)

    # --- security ---
    client_type = models.CharField(
        _("client type"), max_length=20, choices=Type.choices, default=Type.CONFIDENTIAL
    )
    application_type = models.CharField(
        max_length=10, choices=ApplicationType.choices, default=ApplicationType.WEB
    )
    token_endpoint_auth_method = models.CharField(
        _("token endpoint authentication"),
        max_length=40,
        choices=AuthMethod.choices,
        default=AuthMethod.CLIENT_SECRET_BASIC,
    )
    grant_types = models.JSONField(_("grant types"), default=default_grant_types, blank=True)
    response_types = models.JSONField(
        _("response types"), default=default_response_types, blank=True
    )
    scopes = models.JSONField(
        _("allowed scopes"),
        default=default_scopes,
        blank=True,
        help_text=_("Scopes this app may ask for."),
    )
    resources = models.JSONField(
        _("resources (audiences)"),
        default=list,
        blank=True,
        help_text=_(
            "APIs this app may ask access tokens for with the RFC 8707 resource parameter; "
            "each becomes the token's aud."
        ),
    )
    require_pkce = models.BooleanField(
        _("require PKCE"), default=True, help_text=_("Always on for public clients.")
    )
    require_mfa = models.BooleanField(
        _("require two-step verification"),
        default=False,
        help_text=_("Users must have used a second factor in their session to sign in here."),
    )
    skip_consent = models.BooleanField(
        _("skip consent"), default=False, help_text=_("For first-party apps only.")
    )
    is_resource_server = models.BooleanField(
        _("resource server"),
        default=False,
        help_text=_("May introspect any access token (RFC 7662), e.g. an API gateway."),
    )
    is_enabled = models.BooleanField(
        _("enabled"),
        default=True,
        help_text=_("A disabled client can neither start sign-ins nor use the token endpoint."),
    )

    # --- URIs ---
    redirect_uris = models.JSONField(_("redirect URIs"), default=list, blank=True)
    post_logout_redirect_uris = models.JSONField(
        _("post-logout redirect URIs"), default=list, blank=True
    )
    backchannel_logout_uri = models.CharField(
        _("back-channel logout URI"), max_length=2000, blank=True
    )
    backchannel_logout_session_required = models.BooleanField(
        _("back-channel logout needs sid"), default=False
    )
    frontchannel_logout_uri = models.CharField(
        _("front-channel logout URI"), max_length=2000, blank=True
    )
    frontchannel_logout_session_required = models.BooleanField(
        _("front-channel logout needs iss and sid"), default=False
    )
    revoke_refresh_tokens_on_logout = models.BooleanField(
        _("revoke refresh tokens at sign-out"),
        default=True,
        help_text=_("Ending the sign-in session revokes the refresh tokens issued in it."),
    )

    # --- tokens ---
    id_token_signed_response_alg = models.CharField(
        _("ID token signing algorithm"),
        max_length=10,
        choices=SigningAlg.choices,
        default=SigningAlg.RS256,
    )
    access_token_format = models.CharField(
        _("access token format"),
        max_length=10,
        choices=AccessTokenFormat.choices,
        default=AccessTokenFormat.JWT,
    )
    access_token_lifetime = models.PositiveIntegerField(
        _("access token lifetime (s)"), null=True, blank=True, help_text=_("Blank: 600 s.")
    )
    id_token_lifetime = models.PositiveIntegerField(
        _("ID token lifetime (s)"), null=True, blank=True, help_text=_("Blank: 600 s.")
    )
    refresh_token_lifetime = models.PositiveIntegerField(
        _("refresh token lifetime (s)"), null=True, blank=True, help_text=_("Blank: 30 days.")
    )

    # --- credentials: hashes only, never the secret itself ---
    secret_hash = models.CharField(max_length=128, blank=True, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    previous_secret_hash = models.CharField(max_length=128, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    registration_access_token_hash = models.CharField(
        max_length=128, blank=True, editable=False, db_index=True
    )
    is_dynamically_registered = models.BooleanField(default=False, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(client_type="public")
                | models.Q(token_endpoint_auth_method="none", require_pkce=True),
                name="clients_public_client_uses_pkce_without_secret",
            ),
            models.CheckConstraint(
                condition=~models.Q(client_type="confidential")
                | ~models.Q(token_endpoint_auth_method="none"),
                name="clients_confidential_client_authenticates",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"

    # --- invariants ---

    @property
    def is_public(self) -> bool:
        return self.client_type == self.Type.PUBLIC

    def clean(self) -> None:
        """Every rule a client must satisfy, with field-level messages for admin, CLI and
        the registration endpoint alike."""
        errors: dict[str, list[str]] = {}

        def add(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        self.name = (self.name or "").strip()
        if not self.name:
            add("name", "Enter a name.")

        if self.is_public:
            # A public client cannot keep a secret: it proves itself with PKCE instead.
            self.token_endpoint_auth_method = self.AuthMethod.NONE
            self.require_pkce = True
        elif self.token_endpoint_auth_method == self.AuthMethod.NONE:
            add(
                "token_endpoint_auth_method",
                "A confidential client must authenticate; use client_secret_basic or "
                "client_secret_post, or make the client public.",
            )

        self._clean_choice_list("grant_types", self.GrantType.values, add, required=True)
        self._clean_choice_list("response_types", self.ResponseType.values, add, required=False)
        grants = set(self.grant_types or [])
        if "client_credentials" in grants and self.is_public:
            add("grant_types", "A public client cannot use client_credentials.")
        if "refresh_token" in grants and "authorization_code" not in grants:
            add("grant_types", "refresh_token needs the authorization_code grant.")
        if ("authorization_code" in grants) != ("code" in (self.response_types or [])):
            add("response_types", "Response type code goes with the authorization_code grant.")

        self._clean_scopes(add)
        self._clean_uri_list("redirect_uris", redirect_uri_validate, add)
        if "authorization_code" in grants and not self.redirect_uris:
            add("redirect_uris", "Register at least one redirect URI.")
        self._clean_uri_list("post_logout_redirect_uris", redirect_uri_validate, add)
        self._clean_uri_list("resources", resource_validate, add)
        for field in (
            "logo_uri",
            "client_uri",
            "policy_uri",
            "tos_uri",
            "backchannel_logout_uri",
            "frontchannel_logout_uri",
        ):
            value = getattr(self, field)
            if value:
                try:
                    web_uri_validate(value, what=str(self._meta.get_field(field).verbose_name))
                except ValidationError as exc:
                    add(field, exc.messages[0])

        if self.id_token_signed_response_alg not in idp_settings.SIGNING_ALGS:
            add(
                "id_token_signed_response_alg",
                f"Choose one of {', '.join(idp_settings.SIGNING_ALGS)}.",
            )
        for field, (low, high) in LIFETIME_BOUNDS.items():
            value = getattr(self, field)
            if value is not None and not low <= value <= high:
                add(field, f"Must be between {low} and {high} seconds.")
        if not isinstance(self.contacts, list) or not all(
            isinstance(c, str) and 0 < len(c) <= 254 for c in self.contacts
        ):
            add("contacts", "Contacts must be a list of email addresses.")

        if errors:
            raise ValidationError(errors)

    def _clean_choice_list(self, field, allowed, add, *, required: bool) -> None:
        value = getattr(self, field)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            add(field, "Must be a list of names.")
            return
        setattr(self, field, list(dict.fromkeys(value)))
        unknown = [v for v in value if v not in allowed]
        if unknown:
            add(field, f"Unsupported: {', '.join(unknown)}. Choose from {', '.join(allowed)}.")
        if required and not value:
            add(field, "Choose at least one.")

    def _clean_scopes(self, add) -> None:
        value = self.scopes
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            add("scopes", "Must be a list of scope names.")
            return
        self.scopes = list(dict.fromkeys(value))
        bad = [s for s in self.scopes if not SCOPE_TOKEN.match(s)]
        if bad:
            add("scopes", f"Not a valid scope name: {', '.join(map(repr, bad))}.")
            return
        unknown = [s for s in self.scopes if s not in idp_settings.SCOPES_SUPPORTED]
        if unknown:
            add(
                "scopes",
                f"Unknown scope: {', '.join(unknown)}. Supported: "
                f"{' '.join(idp_settings.SCOPES_SUPPORTED)} (extend with IDP_SCOPES_SUPPORTED).",
            )

    def _clean_uri_list(self, field, validate, add) -> None:
        value = getattr(self, field)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            add(field, "Must be a list of URIs.")
            return
        setattr(self, field, list(dict.fromkeys(value)))
        for uri in value:
            try:
                validate(uri)
            except ValidationError as exc:
                add(field, f"{uri[:200]}: {exc.messages[0]}")

    # --- credentials ---

    def secret_set(self, secret: str, *, grace: timedelta = timedelta(0)) -> None:
        """Store `secret` (as a hash); the current one stays valid for `grace`."""
        now = timezone.now()
        if self.secret_hash and grace > timedelta(0):
            self.previous_secret_hash = self.secret_hash
            self.previous_secret_expires_at = now + grace
        else:
            self.previous_secret_hash = ""
            self.previous_secret_expires_at = None
        self.secret_hash = client_secret_hash(secret)
        self.secret_rotated_at = now

    # --- Authlib's ClientMixin ---

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an unambiguous single registration may be implied (RFC 6749 §3.1.2.3).
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.scopes)
        return " ".join(s for s in dict.fromkeys(scope.split()) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri_matches(self.redirect_uris, redirect_uri)

    def check_post_logout_redirect_uri(self, uri: str) -> bool:
        return isinstance(uri, str) and uri in self.post_logout_redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        if self.is_public:
            return False
        if client_secret_verify(client_secret, self.secret_hash):
            return True
        return bool(
            self.previous_secret_hash
            and self.previous_secret_expires_at
            and timezone.now() < self.previous_secret_expires_at
            and client_secret_verify(client_secret, self.previous_secret_hash)
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    # --- lifetimes with server defaults ---

    @property
    def access_token_ttl(self) -> timedelta:
        if self.access_token_lifetime:
            return timedelta(seconds=self.access_token_lifetime)
        return idp_settings.ACCESS_TOKEN_TTL

    @property
    def id_token_ttl(self) -> timedelta:
        if self.id_token_lifetime:
            return timedelta(seconds=self.id_token_lifetime)
        return idp_settings.ID_TOKEN_TTL

    @property
    def refresh_token_ttl(self) -> timedelta:
        if self.refresh_token_lifetime:
            return timedelta(seconds=self.refresh_token_lifetime)
        return idp_settings.REFRESH_TOKEN_TTL
