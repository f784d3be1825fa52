"""URLs of passkey (WebAuthn) registration and sign-in."""

app_name = "passkeys"
urlpatterns: list = []
