"""`manage.py bootstrap`: a newcomer's first run, safe to repeat."""

import secrets

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from accounts.models import User


class Command(BaseCommand):
    help = (
        "Prepare a first run: apply migrations and, if no administrator exists, create one "
        "and print its generated password once. Never deletes or changes existing data."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--email", default="admin@localhost", help="Email of the administrator to create."
        )
        parser.add_argument(
            "--create-admin",
            action="store_true",
            help="Create the administrator even when DEBUG is off (its password is printed).",
        )
        parser.add_argument(
            "--no-migrate", action="store_true", help="Do not apply pending migrations."
        )

    def handle(self, *args, email: str, create_admin: bool, no_migrate: bool, **options):
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write("Database is up to date.")

        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An administrator already exists; no account was created.")
        elif settings.DEBUG or create_admin:
            if User.objects.filter(email__iexact=email).exists():
                raise CommandError(f"{email} exists but is not an administrator; pick --email.")
            password = secrets.token_urlsafe(18)
            User.objects.create_superuser(email, password, email_verified=True)
            self.stdout.write(self.style.SUCCESS("Created the administrator account:"))
            self.stdout.write(f"  email:    {email}")
            self.stdout.write(f"  password: {password}")
            self.stdout.write("  (shown only now: store it, or change it after signing in)")
        else:
            self.stdout.write(
                "No administrator exists. Create one with "
                "`manage.py bootstrap --create-admin --email you@example.com` "
                "or `manage.py createsuperuser`."
            )

        from idp.services.keys import key_ring

        ring = key_ring()  # creates the first signing keys on a fresh install
        self.stdout.write(f"Signing keys ready: {', '.join(sorted(ring.active))}.")

        issuer = settings.IDP_ISSUER
        self.stdout.write("")
        self.stdout.write(f"Sign in:          {issuer}/login")
        self.stdout.write(f"Administration:   {issuer}/admin/")
