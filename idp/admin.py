"""Admin screens for signing keys: read-only, with confirmed rotate and revoke actions.

The private key never appears here: the model admin lists only public, non-secret fields.
"""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from idp.models import LogoutDelivery, RefreshToken, SigningKey, Token
from idp.services import keys


def _confirm(modeladmin, request, queryset, *, action: str, title: str, text: str):
    return TemplateResponse(
        request,
        "admin/idp/signingkey/confirm.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "text": text,
            "keys": list(queryset),
            "action": action,
            "opts": SigningKey._meta,
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        },
    )


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    list_display = ("kid", "alg", "state", "created_at", "activated_at", "retired_at",
                    "expires_at", "revoked_at")  # fmt: skip
    list_filter = ("alg", "state")
    search_fields = ("kid",)
    fields = ("kid", "alg", "state", "public_jwk", "created_at", "activated_at", "retired_at",
              "expires_at", "revoked_at")  # fmt: skip
    readonly_fields = fields
    actions = ("rotate_now", "revoke_keys")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # read-only: changes happen only through the actions below

    @admin.action(description=_("Rotate now: promote the next key for these algorithms"))
    def rotate_now(self, request, queryset):
        if not request.user.is_superuser:
            raise PermissionDenied
        algs = sorted(set(queryset.values_list("alg", flat=True)))
        if request.POST.get("confirm") != "yes":
            return _confirm(
                self, request, queryset, action="rotate_now",
                title=_("Rotate signing keys now?"),
                text=_("The next key of %(algs)s starts signing now, and a new next key is "
                       "published. The current key stays published until its tokens expire. "
                       "An RP that cached the JWKS before the next key was published will "
                       "have to refetch it.") % {"algs": ", ".join(algs)},
            )  # fmt: skip
        events = keys.signing_key_rotate(force=True, algs=algs)
        self.message_user(request, "; ".join(events) or _("Nothing to do."))
        return None

    @admin.action(description=_("Revoke: unpublish now and reject tokens they signed"))
    def revoke_keys(self, request, queryset):
        if not request.user.is_superuser:
            raise PermissionDenied
        if request.POST.get("confirm") != "yes":
            return _confirm(
                self, request, queryset, action="revoke_keys",
                title=_("Revoke these signing keys?"),
                text=_("They disappear from the JWKS at once and every token they signed is "
                       "rejected: users of the affected apps may have to sign in again. This "
                       "cannot be undone."),
            )  # fmt: skip
        for key in queryset:
            keys.signing_key_revoke(kid=key.kid)
        self.message_user(
            request, _("Revoked %(n)d key(s).") % {"n": queryset.count()}, messages.WARNING
        )
        return None


class _ReadOnly(admin.ModelAdmin):
    """Issued credentials are facts: viewable, never edited here. Only hashes are stored."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RefreshToken)
class RefreshTokenAdmin(_ReadOnly):
    list_display = ("family", "client", "user", "issued_at", "used_at", "revoked_at",
                    "expires_at")  # fmt: skip
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "client")
    search_fields = ("family", "user__email", "client__client_id")
    exclude = ("token_hash",)


@admin.register(Token)
class AccessTokenAdmin(_ReadOnly):
    list_display = ("jti", "format", "client", "user", "issued_at", "expires_at", "revoked_at")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter), "format", "client")
    search_fields = ("jti", "family", "user__email", "client__client_id")
    exclude = ("token_hash",)


@admin.register(LogoutDelivery)
class LogoutDeliveryAdmin(_ReadOnly):
    """Back-channel logout deliveries: status, attempts, last error."""

    list_display = ("client", "user", "sid", "status", "attempts", "last_attempt_at",
                    "delivered_at", "last_error")  # fmt: skip
    list_filter = ("status", "client")
    search_fields = ("sid", "user__email", "client__client_id")
