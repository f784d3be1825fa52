"""URLs of the sign-in pages."""

from django.urls import path

from accounts import views

app_name = "accounts"

urlpatterns = [
    path("login", views.login_view, name="login"),
    path("logout", views.logout_view, name="logout"),
    path("account", views.account_view, name="account"),
    path("account/sessions/<str:sid>/end", views.session_end_view, name="session_end"),
    path("account/sessions/end-all", views.sessions_end_all_view, name="sessions_end_all"),
]
