"""Protocol state owned by the authorization server: signing keys (more models follow)."""

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
