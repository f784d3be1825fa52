"""Protocol state owned by the authorization server: keys, codes, tokens, consents."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class SigningKey(models.Model):
    """A key pair that signs tokens. The private half is stored only encrypted.

    Lifecycle: next (published in the JWKS, not yet signing) → active (signs; exactly one per
    algorithm) → retired (published until everything it signed has expired) → deleted.
    `revoked` is the emergency exit: unpublished at once, its tokens rejected.
    """

    class State(models.TextChoices):
        NEXT = "next", _("next (published, not signing yet)")
        ACTIVE = "active", _("active (signing)")
        RETIRED = "retired", _("retired (published until its tokens expire)")
        REVOKED = "revoked", _("revoked")

    class Alg(models.TextChoices):
        RS256 = "RS256", "RS256"
        ES256 = "ES256", "ES256"
        EDDSA = "EdDSA", "EdDSA"

    kid = models.CharField(_("key id"), max_length=64, unique=True, help_text="RFC 7638")
    alg = models.CharField(max_length=10, choices=Alg.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.NEXT)
    public_jwk = models.JSONField(help_text=_("The public half, as published in the JWKS."))
    # Fernet token of the PKCS#8 PEM; emptied when the key is revoked.
    private_key_encrypted = models.TextField(blank=True)
    created_at = models.DateTimeField()
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When a retired key is removed from the JWKS.")
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["alg", "-created_at"]
        constraints = [
            # Whatever the races, the database never holds two signing keys for one alg.
            models.UniqueConstraint(
                fields=["alg"], condition=Q(state="active"), name="idp_one_active_key_per_alg"
            ),
            models.UniqueConstraint(
                fields=["alg"], condition=Q(state="next"), name="idp_one_next_key_per_alg"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.alg} {self.kid} ({self.state})"


class KeyRotationLock(models.Model):
    """One row that rotation locks (UPDATE … first thing in its transaction), so that any
    number of workers running rotation at once take turns, on PostgreSQL and SQLite alike."""

    locked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "key rotation lock"


class AuthorizationCode(models.Model):
    """An issued authorization code (RFC 6749 §4.1.2), stored only as its SHA-256.

    Single use: redeeming sets `used_at`; the row stays until pruned, so that a replay can be
    recognised and every token issued from the code revoked (RFC 6749 §4.1.2, §10.5).
    """

    code_hash = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey("clients.Client", on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    redirect_uri = models.TextField()
    # True when the authorization request named the redirect URI (RFC 6749 §4.1.3).
    redirect_uri_given = models.BooleanField(default=True)
    scope = models.TextField(blank=True)
    nonce = models.TextField(blank=True)
    code_challenge = models.CharField(max_length=128, blank=True)
    code_challenge_method = models.CharField(max_length=10, blank=True)
    claims = models.JSONField(null=True, blank=True, help_text="The `claims` request (§5.5).")
    resources = models.JSONField(default=list, blank=True, help_text="RFC 8707 resources.")
    auth_time = models.BigIntegerField()
    acr = models.CharField(max_length=100, blank=True)
    amr = models.JSONField(default=list)
    sid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for {self.client_id} / user {self.user_id}"

    # Authlib's AuthorizationCodeMixin (and the OIDC extension's getters)
    def get_redirect_uri(self) -> str:
        # Only a redirect URI the request named must be repeated at the token endpoint.
        return self.redirect_uri if self.redirect_uri_given else ""

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce or None

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.acr or None

    def get_amr(self) -> list[str] | None:
        return self.amr or None


class Token(models.Model):
    """An issued access token. Stored as the SHA-256 of the token string, whatever its
    format, so nothing here can be presented back to us; JWT access tokens also keep their
    `jti` and `kid` so introspection can reject what a revoked key signed."""

    class Format(models.TextChoices):
        JWT = "jwt", "JWT"
        OPAQUE = "opaque", "opaque"

    token_hash = models.CharField(max_length=64, unique=True)
    format = models.CharField(max_length=10, choices=Format.choices)
    jti = models.CharField(max_length=64, blank=True)
    kid = models.CharField(max_length=64, blank=True)
    client = models.ForeignKey("clients.Client", on_delete=models.CASCADE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True
    )
    scope = models.TextField(blank=True)
    claims = models.JSONField(null=True, blank=True)
    authorization_code = models.ForeignKey(
        AuthorizationCode, on_delete=models.SET_NULL, null=True, blank=True
    )
    # The refresh-token family this token belongs to (issued with it or from it), so that
    # revoking or replaying the family revokes its access tokens too.
    family = models.CharField(max_length=32, blank=True, db_index=True)
    # RFC 8707 resources it was issued for (its `aud`); empty = the default audience.
    resources = models.JSONField(default=list, blank=True)
    sid = models.CharField(max_length=64, blank=True)
    auth_time = models.BigIntegerField(null=True, blank=True)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.format} token for {self.client_id}"


class RefreshToken(models.Model):
    """A refresh token, stored as its SHA-256. Rotated on every use: each use creates the
    next token of the same family, and presenting a used one revokes the whole family
    (RFC 9700 §4.14.2) — one of the two presenters is an attacker."""

    token_hash = models.CharField(max_length=64, unique=True)
    family = models.CharField(max_length=32, db_index=True)
    client = models.ForeignKey("clients.Client", on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    scope = models.TextField(blank=True)
    claims = models.JSONField(null=True, blank=True)
    resources = models.JSONField(default=list, blank=True)
    auth_time = models.BigIntegerField()
    acr = models.CharField(max_length=100, blank=True)
    amr = models.JSONField(default=list)
    sid = models.CharField(max_length=64, blank=True)
    issued_at = models.DateTimeField()
    # Idle expiry, never later than the family's absolute expiry.
    expires_at = models.DateTimeField(db_index=True)
    family_expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refresh token of family {self.family}"

    # Authlib's TokenMixin, as the refresh grant uses it
    def check_client(self, client) -> bool:
        return self.client_id == client.pk

    def get_scope(self) -> str:
        return self.scope


class Consent(models.Model):
    """What a user allowed an app: remembered, so the next sign-in with the same or fewer
    scopes passes straight through."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    client = models.ForeignKey("clients.Client", on_delete=models.CASCADE)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "client"], name="idp_one_consent_per_app")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.client_id}: {' '.join(self.scopes)}"


class LogoutDelivery(models.Model):
    """A back-channel logout token owed to one RP for one ended session, and how its
    delivery went (OpenID Connect Back-Channel Logout 1.0 §2.5)."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed (gave up)"

    client = models.ForeignKey("clients.Client", on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    sid = models.CharField(max_length=64)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"logout of {self.sid} to {self.client_id}: {self.status}"
