"""URLs of password reset, password change and email change."""

from django.urls import path

from accounts import password_views as views

app_name = "password"
urlpatterns = [
    path("password/reset", views.password_reset_view, name="reset"),
    path(
        "password/reset/<str:uidb64>/<str:token>",
        views.password_reset_confirm_view,
        name="reset_confirm",
    ),  # fmt: skip
    path("account/password", views.password_change_view, name="change"),
    path("account/email", views.email_change_view, name="email_change"),
    path("account/email/verify/<str:token>", views.email_verify_view, name="email_verify"),
]
