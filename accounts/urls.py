"""URLs of the sign-in pages."""

from django.urls import include, path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login", views.login_view, name="login"),
    path("logout", views.logout_view, name="logout"),
    path("account", views.account_view, name="account"),
    path("account/sessions/<str:sid>/end", views.session_end_view, name="session_end"),
    path("account/sessions/end-all", views.sessions_end_all_view, name="sessions_end_all"),
    path("login/mfa", views.mfa_view, name="mfa"),
    path("account/mfa/totp", views.totp_setup_view, name="totp_setup"),
    path("account/mfa/totp/remove", views.totp_remove_view, name="totp_remove"),
    path("account/mfa/recovery-codes", views.recovery_codes_view, name="recovery_codes"),
    path("account/profile", views.profile_view, name="profile"),
    path("account/apps/<str:client_id>/revoke", views.app_revoke_view, name="app_revoke"),
    path("", include("accounts.passkey_urls")),
    path("", include("accounts.password_urls")),
]
