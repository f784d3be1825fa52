"""URLs of the client registry."""

from django.urls import path

from clients import views

app_name = "clients"

urlpatterns = [
    path("register", views.register_view, name="register"),
    path("register/<str:client_id>", views.configuration_view, name="configuration"),
]
