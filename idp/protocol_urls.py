"""URLs of the OAuth 2.0 / OpenID Connect endpoints."""

from django.urls import path

from idp import views

app_name = "idp"

urlpatterns = [
    path(".well-known/openid-configuration", views.discovery_view, name="discovery"),
    path(".well-known/oauth-authorization-server", views.discovery_view, name="as_metadata"),
    path("jwks.json", views.jwks_view, name="jwks"),
    path("authorize", views.authorize_view, name="authorize"),
    path("authorize/continue", views.authorize_continue_view, name="authorize_continue"),
    path("token", views.token_view, name="token"),
    path("userinfo", views.userinfo_view, name="userinfo"),
    path("revoke", views.revocation_view, name="revocation"),
    path("introspect", views.introspection_view, name="introspection"),
    path("end-session", views.end_session_view, name="end_session"),
    path("end-session/confirm", views.end_session_confirm_view, name="end_session_confirm"),
]
