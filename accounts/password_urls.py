"""URLs of password reset, password change and email change."""

app_name = "password"
urlpatterns: list = []
