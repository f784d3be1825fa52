"""Admin screens for users."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _

from accounts.models import User


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
