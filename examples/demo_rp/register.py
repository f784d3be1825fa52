"""Register the demo RP with the local Portcullis, once; keep its credentials in var/.

Safe to run at every start: an existing registration is reused; if its credentials file was
lost, the secret is rotated and the file written again.
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "idp.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from clients import services  # noqa: E402
from clients.models import Client  # noqa: E402

PORT = int(os.environ.get("DEMO_RP_PORT", "8001"))
REDIRECT_URI = f"http://127.0.0.1:{PORT}/callback"
CREDENTIALS = Path(settings.DATA_DIR) / "demo_rp.json"


def main() -> None:
    saved = json.loads(CREDENTIALS.read_text()) if CREDENTIALS.exists() else {}
    client = Client.objects.filter(client_id=saved.get("client_id", "")).first()
    if client is not None and client.check_client_secret(saved.get("client_secret", "")):
        print(f"Demo RP already registered: {client.client_id}")
        return
    client = Client.objects.filter(name="Demo RP", is_dynamically_registered=False).first()
    if client is None:
        client, secret = services.client_create(
            name="Demo RP",
            redirect_uris=[REDIRECT_URI],
            post_logout_redirect_uris=[f"http://127.0.0.1:{PORT}/"],
            client_uri=f"http://127.0.0.1:{PORT}/",
            scopes=["openid", "profile", "email"],
            grant_types=["authorization_code"],
        )
    else:
        secret = services.client_secret_rotate(client=client)
    CREDENTIALS.write_text(
        json.dumps({"client_id": client.client_id, "client_secret": secret,
                    "issuer": settings.IDP_ISSUER, "redirect_uri": REDIRECT_URI})
    )  # fmt: skip
    CREDENTIALS.chmod(0o600)
    print(f"Registered the demo RP: {client.client_id}")


if __name__ == "__main__":
    main()
