"""`manage.py clients …`: register and manage relying parties from scripts."""

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clients import services
from clients.metadata import client_integration, client_metadata
from clients.models import Client


def _one_line(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        parts = [f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items()]
        return "; ".join(parts)
    return " ".join(error.messages)


class Command(BaseCommand):
    help = "Register and manage relying-party clients."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

        create = sub.add_parser("create", help="Register a new client; prints its secret once.")
        create.add_argument("--name", required=True)
        create.add_argument("--redirect-uri", action="append", default=[], dest="redirect_uris")
        create.add_argument(
            "--post-logout-redirect-uri",
            action="append",
            default=[],
            dest="post_logout_redirect_uris",
        )
        create.add_argument("--public", action="store_true", help="No secret; PKCE required.")
        create.add_argument(
            "--auth-method",
            choices=Client.AuthMethod.values,
            help="Token endpoint authentication (default client_secret_basic; none if public).",
        )
        create.add_argument("--scope", help='Allowed scopes, e.g. "openid profile email".')
        create.add_argument(
            "--resource", action="append", default=[], dest="resources",
            help="An API (RFC 8707 resource) this client may get tokens for; repeat for more.",
        )  # fmt: skip
        create.add_argument(
            "--grant-type",
            action="append",
            dest="grant_types",
            choices=Client.GrantType.values,
            help="Repeat for several (default: authorization_code and refresh_token).",
        )
        create.add_argument("--backchannel-logout-uri", default="")
        create.add_argument("--frontchannel-logout-uri", default="")
        create.add_argument("--skip-consent", action="store_true")
        create.add_argument(
            "--resource-server", action="store_true", help="May introspect access tokens."
        )
        create.add_argument("--id-token-alg", choices=Client.SigningAlg.values, default="RS256")
        create.add_argument(
            "--access-token-format", choices=Client.AccessTokenFormat.values, default="jwt"
        )
        create.add_argument("--access-token-lifetime", type=int, metavar="SECONDS")
        create.add_argument("--id-token-lifetime", type=int, metavar="SECONDS")
        create.add_argument("--refresh-token-lifetime", type=int, metavar="SECONDS")
        create.add_argument("--logo-uri", default="")
        create.add_argument("--client-uri", default="", help="The app's home page.")
        create.add_argument("--json", action="store_true")

        listing = sub.add_parser("list", help="List clients.")
        listing.add_argument("--json", action="store_true")

        show = sub.add_parser("show", help="Show one client and its RP settings.")
        show.add_argument("client_id")
        show.add_argument("--json", action="store_true")

        rotate = sub.add_parser("rotate-secret", help="Issue a new secret; prints it once.")
        rotate.add_argument("client_id")
        rotate.add_argument(
            "--grace",
            type=int,
            metavar="SECONDS",
            help="Keep the old secret working this long (default: IDP_CLIENT_SECRET_GRACE_PERIOD).",
        )
        rotate.add_argument("--json", action="store_true")

        for name, text in (
            ("disable", "Disable a client."),
            ("enable", "Enable a client."),
            ("delete", "Delete a client."),
        ):
            action = sub.add_parser(name, help=text)
            action.add_argument("client_id")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, "handle_" + action.replace("-", "_"))(**options)
        except ValidationError as exc:
            raise CommandError(_one_line(exc)) from None
        except services.ClientNotFound as exc:
            raise CommandError(f"No client with client_id {exc.args[0]!r}.") from None

    # --- actions ---

    def handle_create(self, **o: Any) -> None:
        attributes: dict[str, Any] = {
            "client_type": Client.Type.PUBLIC if o["public"] else Client.Type.CONFIDENTIAL,
            "redirect_uris": o["redirect_uris"],
            "post_logout_redirect_uris": o["post_logout_redirect_uris"],
            "backchannel_logout_uri": o["backchannel_logout_uri"],
            "frontchannel_logout_uri": o["frontchannel_logout_uri"],
            "skip_consent": o["skip_consent"],
            "is_resource_server": o["resource_server"],
            "resources": o["resources"],
            "id_token_signed_response_alg": o["id_token_alg"],
            "access_token_format": o["access_token_format"],
            "access_token_lifetime": o["access_token_lifetime"],
            "id_token_lifetime": o["id_token_lifetime"],
            "refresh_token_lifetime": o["refresh_token_lifetime"],
            "logo_uri": o["logo_uri"],
            "client_uri": o["client_uri"],
        }
        if o["public"]:
            if o["auth_method"] not in (None, Client.AuthMethod.NONE):
                raise CommandError("A public client uses --auth-method none (PKCE, no secret).")
            attributes["token_endpoint_auth_method"] = Client.AuthMethod.NONE
        elif o["auth_method"]:
            attributes["token_endpoint_auth_method"] = o["auth_method"]
        if o["scope"] is not None:
            attributes["scopes"] = o["scope"].split()
        if o["grant_types"]:
            attributes["grant_types"] = o["grant_types"]
            if "authorization_code" not in o["grant_types"]:
                attributes["response_types"] = []
        client, secret = services.client_create(name=o["name"], **attributes)
        self._print_client(client, secret=secret, as_json=o["json"], created=True)

    def handle_list(self, **o: Any) -> None:
        clients = list(Client.objects.all())
        if o["json"]:
            self.stdout.write(json.dumps([client_metadata(c) for c in clients], indent=2))
            return
        if not clients:
            self.stdout.write("No clients yet. Register one with `manage.py clients create`.")
            return
        self.stdout.write(f"{'CLIENT_ID':34} {'TYPE':13} {'ENABLED':8} NAME")
        for c in clients:
            enabled = "yes" if c.is_enabled else "no"
            self.stdout.write(f"{c.client_id:34} {c.client_type:13} {enabled:8} {c.name}")

    def handle_show(self, **o: Any) -> None:
        client = services.client_get(o["client_id"])
        self._print_client(client, secret=None, as_json=o["json"])

    def handle_rotate_secret(self, **o: Any) -> None:
        from datetime import timedelta

        client = services.client_get(o["client_id"])
        grace = None if o["grace"] is None else timedelta(seconds=o["grace"])
        if grace is not None and grace.total_seconds() < 0:
            raise CommandError("--grace must be zero or more seconds.")
        secret = services.client_secret_rotate(client=client, grace=grace)
        client.refresh_from_db()
        if o["json"]:
            payload = {"client_id": client.client_id, "client_secret": secret}
            if client.previous_secret_expires_at:
                payload["previous_secret_expires_at"] = (
                    client.previous_secret_expires_at.isoformat()
                )
            self.stdout.write(json.dumps(payload, indent=2))
            return
        self.stdout.write(f"New secret for {client.client_id} (shown only now):")
        self.stdout.write(f"  client_secret: {secret}")
        if client.previous_secret_expires_at:
            self.stdout.write(
                f"The previous secret keeps working until {client.previous_secret_expires_at}."
            )
        else:
            self.stdout.write("The previous secret no longer works.")

    def handle_disable(self, **o: Any) -> None:
        client = services.client_disable(client=services.client_get(o["client_id"]))
        self.stdout.write(f"Disabled {client.client_id}.")

    def handle_enable(self, **o: Any) -> None:
        client = services.client_enable(client=services.client_get(o["client_id"]))
        self.stdout.write(f"Enabled {client.client_id}.")

    def handle_delete(self, **o: Any) -> None:
        client = services.client_get(o["client_id"])
        services.client_delete(client=client)
        self.stdout.write(f"Deleted {o['client_id']}.")

    # --- output ---

    def _print_client(
        self, client: Client, *, secret: str | None, as_json: bool, created: bool = False
    ) -> None:
        data = client_metadata(client)
        if secret:
            data["client_secret"] = secret
        if as_json:
            self.stdout.write(json.dumps(data, indent=2))
            return
        if created:
            self.stdout.write(self.style.SUCCESS(f"Registered {client.name}."))
        for key, value in data.items():
            if isinstance(value, list):
                value = " ".join(value) or "-"
            self.stdout.write(f"  {key}: {value}")
        if secret:
            self.stdout.write("The client_secret is shown only now: store it safely.")
        self.stdout.write("\nRP settings:\n" + client_integration(client, secret)["env"])
