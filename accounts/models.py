"""The user model: people who sign in at Portcullis, identified by their email address."""

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def email_normalize(email: str) -> str:
    """Emails are compared case-insensitively, so they are stored lower-cased, trimmed."""
    return email.strip().lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email=email_normalize(username or ""))

    def create_user(self, email: str, password: str | None = None, **fields) -> "User":
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=email_normalize(email), **fields)
        user.set_password(password)  # None stores an unusable password
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields) -> "User":
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Email is the sign-in name: unique, case-insensitive, stored lower-case.

    There is no separate username; `sub` in tokens is derived from the primary key, never
    from the email, so changing an email address does not change who the user is to an RP.
    """

    # The OIDC `sub`: random, stable, never reassigned, and telling nothing about the user.
    subject = models.UUIDField(_("subject identifier"), unique=True, default=uuid.uuid4,
                               editable=False)  # fmt: skip
    email = models.EmailField(_("email address"), max_length=254, unique=True)
    email_verified = models.BooleanField(_("email verified"), default=False)
    # Standard claims (OIDC Core §5.1); empty values are left out of tokens and userinfo.
    given_name = models.CharField(_("given name"), max_length=150, blank=True)
    family_name = models.CharField(_("family name"), max_length=150, blank=True)
    middle_name = models.CharField(_("middle name"), max_length=150, blank=True)
    nickname = models.CharField(_("nickname"), max_length=150, blank=True)
    preferred_username = models.CharField(_("preferred username"), max_length=150, blank=True)
    profile = models.URLField(_("profile page"), max_length=500, blank=True)
    picture = models.URLField(_("picture"), max_length=500, blank=True)
    website = models.URLField(_("website"), max_length=500, blank=True)
    gender = models.CharField(_("gender"), max_length=50, blank=True)
    birthdate = models.CharField(
        _("birthdate"), max_length=10, blank=True, help_text="YYYY-MM-DD, or YYYY"
    )
    zoneinfo = models.CharField(
        _("time zone"), max_length=64, blank=True, help_text="e.g. Europe/Paris"
    )
    locale = models.CharField(_("locale"), max_length=35, blank=True, help_text="e.g. en-GB")
    phone_number = models.CharField(_("phone number"), max_length=40, blank=True)
    phone_number_verified = models.BooleanField(_("phone number verified"), default=False)
    address_street = models.CharField(_("street address"), max_length=300, blank=True)
    address_locality = models.CharField(_("city"), max_length=150, blank=True)
    address_region = models.CharField(_("region"), max_length=150, blank=True)
    address_postal_code = models.CharField(_("postal code"), max_length=30, blank=True)
    address_country = models.CharField(_("country"), max_length=100, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Inactive users cannot sign in. Deactivate instead of deleting."),
    )
    is_staff = models.BooleanField(
        _("staff status"), default=False, help_text=_("Can sign in to the admin.")
    )
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            # The database itself refuses a mixed-case email, so `unique=True` above is
            # a case-insensitive uniqueness even for writes that bypass save().
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="accounts_user_email_lowercase"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = email_normalize(self.email)

    def save(self, *args, **kwargs) -> None:
        self.email = email_normalize(self.email)
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.given_name or self.email


class SSOSession(models.Model):
    """One browser sign-in: what single sign-on and single logout revolve around.

    `sid` goes into ID tokens (OIDC Front-/Back-Channel Logout); `clients` are the apps that
    received tokens in this session, and are told when it ends.
    """

    class EndReason(models.TextChoices):
        LOGOUT = "logout", _("signed out")
        RP_LOGOUT = "rp_logout", _("signed out from an app")
        USER_ENDED = "user_ended", _("ended from the account page")
        EVERYWHERE = "everywhere", _("signed out everywhere")
        ADMIN = "admin", _("ended by an administrator")
        EXPIRED = "expired", _("expired")
        PASSWORD_CHANGED = "password_changed", _("password changed")

    sid = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sso_sessions")
    session_key = models.CharField(max_length=40, blank=True, db_index=True)
    auth_time = models.BigIntegerField()
    amr = models.JSONField(default=list)
    user_agent = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(help_text=_("Absolute end, whatever the activity."))
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)
    end_reason = models.CharField(max_length=20, choices=EndReason.choices, blank=True)
    clients = models.ManyToManyField("clients.Client", blank=True, related_name="sso_sessions")

    class Meta:
        verbose_name = _("sign-in session")
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.user} since {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


class TOTPDevice(models.Model):
    """An authenticator app (RFC 6238 TOTP). The shared secret is encrypted at rest."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp_device")
    secret_encrypted = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last time step accepted: a code is good once (RFC 6238 §5.2).
    last_used_step = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("authenticator app")

    def __str__(self) -> str:
        return f"authenticator app of {self.user}"


class RecoveryCode(models.Model):
    """A single-use code for when the authenticator is lost; stored as a keyed hash."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"recovery code of {self.user}"


class WebAuthnCredential(models.Model):
    """A passkey or security key (WebAuthn). Only the public key is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkeys")
    name = models.CharField(max_length=100, default="Passkey")
    credential_id = models.CharField(max_length=1400, unique=True, help_text="base64url")
    public_key = models.TextField(help_text="COSE public key, base64url")
    sign_count = models.BigIntegerField(default=0)
    transports = models.JSONField(default=list, blank=True)
    aaguid = models.CharField(max_length=64, blank=True)
    is_discoverable = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("passkey")

    def __str__(self) -> str:
        return f"{self.name} of {self.user}"


class AuditEvent(models.Model):
    """Append-only record of a security-relevant action: who, what, when, from where."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    event = models.CharField(max_length=64, db_index=True)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    client_id = models.CharField(max_length=100, blank=True, db_index=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("audit event")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.event}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)
