"""Admin screens for relying-party clients: register, rotate secrets, disable.

A secret is shown exactly once, in the response to the request that created it; it is never
put in a message, the session or the log.
"""

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from clients import services
from clients.forms import ClientAdminForm
from clients.metadata import client_integration
from clients.models import Client
from idp.conf import idp_settings


def _secret_page(request: HttpRequest, client: Client, secret: str, *, title: str) -> HttpResponse:
    response = TemplateResponse(
        request,
        "admin/clients/client/secret.html",
        {
            **admin.site.each_context(request),
            "title": title,
            "client": client,
            "secret": secret,
            "integration": client_integration(client, secret),
            "opts": Client._meta,
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    form = ClientAdminForm
    list_display = ("name", "client_id", "client_type", "is_enabled", "created_at")
    list_filter = ("client_type", "is_enabled", "access_token_format", "skip_consent")
    search_fields = ("name", "client_id", "redirect_uris")
    ordering = ("name",)
    readonly_fields = (
        "client_id_display",
        "secret_status",
        "integration_panel",
        "created_at",
        "updated_at",
    )
    actions = ("rotate_secret", "disable_clients", "enable_clients")
    fieldsets = (
        (
            _("Identity"),
            {
                "fields": (
                    "name",
                    "client_id_display",
                    "logo_uri",
                    "client_uri",
                    "policy_uri",
                    "tos_uri",
                    "contacts",
                )
            },
        ),
        (_("Redirect URIs"), {"fields": ("redirect_uris", "post_logout_redirect_uris")}),
        (
            _("Security"),
            {
                "fields": (
                    "client_type",
                    "application_type",
                    "token_endpoint_auth_method",
                    "secret_status",
                    "grant_types",
                    "response_types",
                    "scopes",
                    "resources",
                    "require_pkce",
                    "skip_consent",
                    "is_resource_server",
                    "is_enabled",
                )
            },
        ),
        (
            _("Tokens"),
            {
                "fields": (
                    "id_token_signed_response_alg",
                    "access_token_format",
                    "access_token_lifetime",
                    "id_token_lifetime",
                    "refresh_token_lifetime",
                )
            },
        ),
        (
            _("Logout"),
            {
                "fields": (
                    "backchannel_logout_uri",
                    "backchannel_logout_session_required",
                    "frontchannel_logout_uri",
                    "frontchannel_logout_session_required",
                )
            },
        ),
        (_("Integration"), {"fields": ("integration_panel", "created_at", "updated_at")}),
    )

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # nothing to integrate with before the client exists
            return [fs for fs in self.fieldsets if fs[0] != _("Integration")]
        return self.fieldsets

    @admin.display(description=_("Client ID"))
    def client_id_display(self, obj: Client) -> str:
        return obj.client_id if obj.pk else _("Assigned when you save.")

    @admin.display(description=_("Client secret"))
    def secret_status(self, obj: Client) -> str:
        if obj.pk is None:
            return _("Generated when you save, and shown once.")
        if obj.is_public:
            return _("None: a public client proves itself with PKCE.")
        text = _("Set %(when)s (stored hashed; use the “Rotate secret” action for a new one).")
        text = text % {"when": obj.secret_rotated_at.strftime("%Y-%m-%d %H:%M UTC")}
        if obj.previous_secret_expires_at:
            text += " " + _("The previous secret works until %(until)s.") % {
                "until": obj.previous_secret_expires_at.strftime("%Y-%m-%d %H:%M UTC")
            }
        return text

    @admin.display(description=_("RP settings"))
    def integration_panel(self, obj: Client) -> str:
        if obj.pk is None:
            return "-"
        info = client_integration(obj)
        return format_html(
            "<p>Issuer: <code>{}</code><br>Discovery: <a href='{}'>{}</a></p><pre>{}</pre>",
            info["issuer"],
            info["discovery_url"],
            info["discovery_url"],
            info["env"],
        )

    # --- create: the secret appears once, in this response ---

    def save_model(self, request, obj: Client, form, change: bool) -> None:
        if change:
            if obj.is_public:
                obj.secret_hash = obj.previous_secret_hash = ""
                obj.previous_secret_expires_at = None
            obj.save()
            return
        request._portcullis_new_secret = services.client_register(client=obj)

    def response_add(self, request, obj: Client, post_url_continue=None):
        secret = getattr(request, "_portcullis_new_secret", None)
        if secret:
            self.message_user(request, _("Registered %(name)s.") % {"name": obj.name})
            return _secret_page(request, obj, secret, title=_("Copy the client secret now"))
        return super().response_add(request, obj, post_url_continue)

    # --- actions ---

    @admin.action(description=_("Rotate secret (shows the new one once)"), permissions=["change"])
    def rotate_secret(self, request, queryset):
        if not self.has_change_permission(request):
            raise PermissionDenied
        if queryset.count() != 1:
            self.message_user(request, _("Rotate one client at a time."), messages.ERROR)
            return None
        client = queryset.get()
        if request.POST.get("confirm") != "yes":
            return TemplateResponse(
                request,
                "admin/clients/client/rotate_confirm.html",
                {
                    **self.admin_site.each_context(request),
                    "title": _("Rotate the client secret?"),
                    "client": client,
                    "opts": Client._meta,
                    "action_checkbox_name": ACTION_CHECKBOX_NAME,
                    "grace": idp_settings.CLIENT_SECRET_GRACE_PERIOD,
                },
            )
        try:
            secret = services.client_secret_rotate(client=client)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return None
        client.refresh_from_db()
        return _secret_page(request, client, secret, title=_("Copy the new client secret now"))

    @admin.action(description=_("Disable selected clients"), permissions=["change"])
    def disable_clients(self, request, queryset):
        for client in queryset:
            services.client_disable(client=client)
        self.message_user(request, _("Disabled %(n)d client(s).") % {"n": queryset.count()})

    @admin.action(description=_("Enable selected clients"), permissions=["change"])
    def enable_clients(self, request, queryset):
        for client in queryset:
            services.client_enable(client=client)
        self.message_user(request, _("Enabled %(n)d client(s).") % {"n": queryset.count()})
