"""`manage.py keys …`: inspect, rotate and revoke signing keys."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from idp.conf import idp_settings
from idp.services import keys


class Command(BaseCommand):
    help = "Inspect, rotate and revoke the signing keys."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        status = sub.add_parser("status", help="Every key, its state and what happens next.")
        status.add_argument("--json", action="store_true")
        rotate = sub.add_parser(
            "rotate", help="Promote the next key now and publish a new next key."
        )
        rotate.add_argument("--alg", action="append", choices=idp_settings.SIGNING_ALGS)
        rotate.add_argument("--json", action="store_true")
        revoke = sub.add_parser(
            "revoke", help="Emergency: unpublish a key now; tokens it signed are rejected."
        )
        revoke.add_argument("kid")
        revoke.add_argument("--json", action="store_true")
        maintain = sub.add_parser(
            "maintain",
            help="Do whatever scheduled step is due (what Celery beat runs hourly).",
        )
        maintain.add_argument("--json", action="store_true")
        sub.add_parser(
            "reencrypt",
            help="Re-encrypt private keys and authenticator secrets under the first "
            "IDP_KEY_ENCRYPTION_KEYS.",
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        as_json = options.get("json", False)
        if action == "status":
            self._status(as_json)
        elif action == "rotate":
            events = keys.signing_key_rotate(force=True, algs=options["alg"])
            self._events(events, as_json)
        elif action == "maintain":
            from idp.tasks import signing_key_rotate_task

            # The task body, run here and now: what beat would have a worker run.
            events = signing_key_rotate_task.apply().get()
            self._events(events or [], as_json)
        elif action == "revoke":
            try:
                key = keys.signing_key_revoke(kid=options["kid"])
            except keys.SigningKeyNotFound:
                raise CommandError(f"No signing key with kid {options['kid']!r}.") from None
            if as_json:
                self.stdout.write(json.dumps({"kid": key.kid, "state": key.state}))
            else:
                self.stdout.write(
                    f"Revoked {key.kid} ({key.alg}): removed from the JWKS; tokens it signed "
                    "are rejected."
                )
        elif action == "reencrypt":
            from accounts.mfa import totp_secrets_reencrypt

            count = keys.signing_keys_reencrypt()
            secrets_count = totp_secrets_reencrypt()
            self.stdout.write(
                f"Re-encrypted {count} private key(s) and {secrets_count} authenticator "
                "secret(s) under the current key."
            )

    def _status(self, as_json: bool) -> None:
        rows = keys.signing_keys_status()
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No keys yet: they are created on first use or by `keys maintain`.")
            return
        self.stdout.write(f"{'ALG':6} {'STATE':8} {'KID':44} {'CREATED':20} NEXT")
        for row in rows:
            self.stdout.write(
                f"{row['alg']:6} {row['state']:8} {row['kid']:44} {row['created_at'][:19]:20} "
                f"{row['next']}"
            )

    def _events(self, events: list[str], as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps({"events": events, "keys": keys.signing_keys_status()}))
        elif events:
            self.stdout.write("\n".join(events))
        else:
            self.stdout.write("Nothing was due.")
