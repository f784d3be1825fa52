"""Which writes wait for the disk at commit, and the token endpoint's transaction.

Issuing a token is the hot path, and on PostgreSQL most of its cost is round trips and the
commit's WAL flush. `issuing_transaction()` is the transaction of one token request:

- the records it issues (`queue_insert()`: refresh and access tokens, whose ids nobody reads
  back) are sent together, in one statement, just before it commits, instead of one INSERT
  each as they are made;
- that statement also turns `synchronous_commit` off for this transaction alone
  (IDP_ASYNC_TOKEN_COMMIT): nothing is ever corrupted, but a PostgreSQL crash can forget the
  last fraction of a second of such transactions. What is forgotten fails closed: tokens
  issued in that window are unknown afterwards (introspection and userinfo refuse them, the
  RP signs the user in again); a code or refresh token redeemed in that window could be
  redeemed once more.

An authorization code is issued the same way, in a statement of its own
(`insert_without_waiting()`).

Anything that takes access away - a revocation, a replay's family revocation - calls
`commit_durably()`: the transaction it runs in then waits for the disk, whatever else it
does. Outside an issuing transaction every commit waits (PostgreSQL's default), so sign-outs
and admin changes are always durable.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.db import connection, transaction

from idp.conf import idp_settings


@dataclass
class _Issuing:
    may_skip_flush: bool
    queued: list = field(default_factory=list)


_issuing: ContextVar[_Issuing | None] = ContextVar("portcullis_issuing", default=None)


@contextmanager
def issuing_transaction() -> Iterator[None]:
    """A transaction that issues credentials (see the module docstring)."""
    with transaction.atomic():
        state = _Issuing(
            may_skip_flush=idp_settings.ASYNC_TOKEN_COMMIT and connection.vendor == "postgresql"
        )
        token = _issuing.set(state)
        try:
            yield
            flush_issuing_writes()
        finally:
            _issuing.reset(token)


def queue_insert(obj) -> None:
    """Insert `obj` before the issuing transaction commits (at once outside one). It gets no
    primary key back: for records nothing reads again in the same request."""
    from idp.services.compiled import insert_row

    state = _issuing.get()
    if state is None or not connection.in_atomic_block:
        insert_row(obj)
    else:
        state.queued.append(obj)


def flush_issuing_writes() -> None:
    """Send what the issuing transaction queued, in one statement (PostgreSQL) with the
    synchronous_commit switch it earned; one INSERT each elsewhere."""
    from idp.services.compiled import insert_rows

    state = _issuing.get()
    if state is None:
        return
    queued, state.queued = state.queued, []
    if not queued:
        return  # nothing issued after all (an error response): commit as usual
    # set_config(..., true) is SET LOCAL: this transaction only.
    tail = "set_config('synchronous_commit', 'off', true)" if state.may_skip_flush else ""
    state.may_skip_flush = False
    insert_rows(queued, select=tail)


def insert_without_waiting(obj) -> None:
    """Insert one credential whose commit need not wait for the disk (an authorization
    code: lost in a crash, its redemption fails and the user signs in again). Outside a
    transaction on PostgreSQL the INSERT and the set_config() are one statement, and so one
    implicit transaction that commits without the flush; anywhere else, a plain INSERT.
    Like queue_insert(), `obj` gets no primary key back."""
    from idp.services.compiled import insert_row, insert_rows

    if (
        idp_settings.ASYNC_TOKEN_COMMIT
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    ):
        insert_rows([obj], select="set_config('synchronous_commit', 'off', true)")
    else:
        insert_row(obj)


def commit_durably() -> None:
    """This transaction takes access away: its commit waits for the disk."""
    state = _issuing.get()
    if state is not None:
        state.may_skip_flush = False
