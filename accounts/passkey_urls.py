"""URLs of passkey (WebAuthn) registration and sign-in."""

from django.urls import path

from accounts import passkey_views as views

app_name = "passkeys"
urlpatterns: list = [
    path("account/passkeys/register/options", views.register_options_view, name="register_options"),
    path("account/passkeys/register/verify", views.register_verify_view, name="register_verify"),
    path("account/passkeys/<int:passkey_id>/remove", views.remove_view, name="remove"),
    path("login/passkey/options", views.login_options_view, name="login_options"),
    path("login/passkey/verify", views.login_verify_view, name="login_verify"),
    path("login/mfa/passkey/options", views.mfa_options_view, name="mfa_options"),
    path("login/mfa/passkey/verify", views.mfa_verify_view, name="mfa_verify"),
]
