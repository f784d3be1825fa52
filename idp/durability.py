"""How a token request writes, and which writes wait for the disk at commit.

Issuing a token is the hot path, and on PostgreSQL most of its cost is round trips and the
commit's WAL flush. A token request is one `issuing()` block:

- it reads what it redeems (the code, the refresh token) without locking it, and registers
  the single-use claim on it (`claim_on_issue()`: used_at set where it is still empty);
- the records it issues (`queue_insert()`: refresh and access tokens) are not written as
  they are made;
- when the block ends, the claim and the inserts go out as one statement (PostgreSQL: an
  UPDATE and INSERTs as WITH clauses, each INSERT only if the UPDATE changed the row), which
  is one transaction by itself: either the claim wins and every record is written, or it
  lost a race and nothing is. Two requests redeeming the same code or refresh token
  serialise on that row's lock; the second sees it used, writes nothing, and is told so
  (`claim_lost`): it then revokes what the first one got, as a replay must (RFC 6749
  §4.1.2, RFC 9700 §4.14.2), and answers invalid_grant. The first one's records are
  committed by then: the second waited for its commit.
- that statement also turns `synchronous_commit` off for its own transaction
  (IDP_ASYNC_TOKEN_COMMIT): nothing is ever corrupted, but a PostgreSQL crash can forget the
  last fraction of a second of such transactions. What is forgotten fails closed: tokens
  issued in that window are unknown afterwards (introspection and userinfo refuse them, the
  RP signs the user in again); a code or refresh token redeemed in that window could be
  redeemed once more.

An authorization code is issued the same way, in a statement of its own
(`insert_without_waiting()`). Anything that takes access away - a revocation, a replay's
family revocation, a sign-out, an admin change - runs in transactions of its own, with
PostgreSQL's default: its commit waits for the disk. `commit_durably()` inside an issuing
block makes its statement wait too.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from idp.conf import idp_settings

SKIP_FLUSH = "set_config('synchronous_commit', 'off', true)"  # SET LOCAL, as a function


@dataclass
class Claim:
    record: Any
    field: str
    value: Any
    on_lost: Callable[[], None]


@dataclass
class Issuing:
    may_skip_flush: bool
    queued: list = field(default_factory=list)
    claim: Claim | None = None
    claim_lost: bool = False

    def flush(self) -> None:
        from idp.services.compiled import claim_and_insert

        queued, self.queued = self.queued, []
        claim, self.claim = self.claim, None
        if not queued and claim is None:
            return  # nothing issued (an error response before the grant got that far)
        won = claim_and_insert(
            claim=(claim.record, claim.field, claim.value) if claim else None,
            objs=queued,
            select=SKIP_FLUSH if self.may_skip_flush else "",
        )
        if not won:
            self.claim_lost = True
            claim.on_lost()


_issuing: ContextVar[Issuing | None] = ContextVar("portcullis_issuing", default=None)


def _may_skip_flush() -> bool:
    return idp_settings.ASYNC_TOKEN_COMMIT and connection.vendor == "postgresql"


@contextmanager
def issuing() -> Iterator[Issuing]:
    """One token request's writes (see the module docstring). After the block, check
    `claim_lost`: the response built inside must then not be sent."""
    state = Issuing(may_skip_flush=_may_skip_flush())
    token = _issuing.set(state)
    try:
        yield state
        state.flush()
    finally:
        _issuing.reset(token)


def claim_on_issue(record, *, field: str, value, on_lost: Callable[[], None]) -> None:
    """What this request issues is written only if it sets `record.<field>` from empty to
    `value` (a single-use credential's redemption); if another request did first, nothing
    is written and `on_lost` runs."""
    state = _issuing.get()
    if state is None:
        raise RuntimeError("claim_on_issue() outside an issuing() block")
    state.claim = Claim(record=record, field=field, value=value, on_lost=on_lost)


def queue_insert(obj) -> None:
    """Insert `obj` when the issuing block ends (at once outside one). It gets no primary
    key back: for records nothing reads again in the same request."""
    from idp.services.compiled import insert_row

    state = _issuing.get()
    if state is None:
        insert_row(obj)
    else:
        state.queued.append(obj)


def insert_without_waiting(obj) -> None:
    """Insert one credential whose commit need not wait for the disk (an authorization
    code: lost in a crash, its redemption fails and the user signs in again). Outside a
    transaction on PostgreSQL the INSERT and the set_config() are one statement, and so one
    implicit transaction that commits without the flush; anywhere else, a plain INSERT.
    Like queue_insert(), `obj` gets no primary key back."""
    from idp.services.compiled import insert_row, insert_rows

    if _may_skip_flush() and not connection.in_atomic_block:
        insert_rows([obj], select=SKIP_FLUSH)
    else:
        insert_row(obj)


def commit_durably() -> None:
    """What this issuing block writes takes access away too: its commit waits for the disk.
    (Outside an issuing block every commit waits already.)"""
    state = _issuing.get()
    if state is not None:
        state.may_skip_flush = False
