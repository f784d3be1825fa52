"""Which writes wait for the disk at commit.

Issuing a token is the hot path, and on PostgreSQL most of its cost is the commit's WAL flush
(the fsync, and the kernel work behind it, cost more CPU than the request's own queries on a
small machine). A transaction that only issues credentials may skip that wait
(`synchronous_commit = off` for that transaction alone, IDP_ASYNC_TOKEN_COMMIT): nothing is
ever corrupted, but a PostgreSQL crash can forget the last fraction of a second of such
transactions. What is forgotten fails closed: tokens issued in that window are unknown
afterwards (introspection and userinfo refuse them, the RP signs the user in again);
a code or refresh token redeemed in that window could be redeemed once more.

Anything that takes access away - a revocation, a replay's family revocation, a sign-out, an
admin change - always waits for the disk: `commit_durably()` turns the wait back on for the
transaction it runs in.
"""

from django.db import connection

from idp.conf import idp_settings


def _set_local(value: str) -> None:
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL synchronous_commit TO {value}")  # noqa: S608 (constant)


def commit_without_waiting() -> None:
    """This transaction only issues credentials: its commit need not wait for the disk."""
    if idp_settings.ASYNC_TOKEN_COMMIT:
        _set_local("OFF")


def commit_durably() -> None:
    """This transaction takes access away: its commit waits for the disk, whatever the
    transaction set before."""
    _set_local("ON")
