"""Admin screens for users."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _

from accounts.models import AuditEvent, SSOSession, User
from accounts.sessions import sso_session_end, sso_sessions_end_for_user


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserChangeAdminForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    list_display = ("email", "given_name", "family_name", "is_active", "is_staff", "last_login")
    actions = ("end_sessions",)
    list_filter = ("is_active", "is_staff", "is_superuser", "email_verified")
    search_fields = ("email", "given_name", "family_name")
    ordering = ("email",)
    readonly_fields = ("subject", "last_login", "date_joined", "updated_at")
    fieldsets = (
        (None, {"fields": ("email", "email_verified", "password")}),
        (
            _("Profile (OpenID Connect standard claims)"),
            {
                "fields": (
                    "subject",
                    "given_name",
                    "middle_name",
                    "family_name",
                    "nickname",
                    "preferred_username",
                    "profile",
                    "picture",
                    "website",
                    "gender",
                    "birthdate",
                    "zoneinfo",
                    "locale",
                )
            },
        ),
        (_("Phone"), {"fields": ("phone_number", "phone_number_verified")}),
        (
            _("Address"),
            {
                "fields": (
                    "address_street",
                    "address_locality",
                    "address_region",
                    "address_postal_code",
                    "address_country",
                )
            },
        ),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Dates"), {"fields": ("last_login", "date_joined", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2"),
            },
        ),
    )

    @admin.action(description=_("Sign selected users out everywhere"), permissions=["change"])
    def end_sessions(self, request, queryset):
        ended = sum(
            sso_sessions_end_for_user(user=user, reason=SSOSession.EndReason.ADMIN)
            for user in queryset
        )
        self.message_user(request, _("Ended %(n)d session(s).") % {"n": ended})


@admin.register(SSOSession)
class SSOSessionAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at", "last_seen_at", "ip_address", "ended_at", "end_reason")
    list_filter = (("ended_at", admin.EmptyFieldListFilter), "end_reason")
    search_fields = ("user__email", "sid", "ip_address")
    readonly_fields = ("sid", "user", "auth_time", "amr", "user_agent", "ip_address",
                       "created_at", "last_seen_at", "expires_at", "ended_at", "end_reason",
                       "clients")  # fmt: skip
    exclude = ("session_key",)
    actions = ("end_selected",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # end sessions with the action, so their apps are told

    @admin.action(description=_("End selected sessions (the apps are told)"),
                  permissions=["change"])  # fmt: skip
    def end_selected(self, request, queryset):
        for session in queryset.filter(ended_at__isnull=True):
            sso_session_end(session=session, reason=SSOSession.EndReason.ADMIN)
        self.message_user(request, _("Sessions ended."))


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log: searchable, never editable."""

    list_display = ("at", "event", "user", "actor", "client_id", "ip_address")
    list_filter = ("event", ("at", admin.DateFieldListFilter))
    search_fields = ("event", "user__email", "actor__email", "client_id", "ip_address")
    date_hierarchy = "at"
    readonly_fields = ("at", "event", "user", "actor", "client_id", "ip_address", "user_agent",
                       "details")  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
