"""Django's PostgreSQL backend, with a connection health check that needs no round trip.

With CONN_HEALTH_CHECKS, Django checks a persistent connection before its first query in
every request by sending `SELECT 1`: a round trip to PostgreSQL on every request, which on a
small machine costs as much as the lookup the request came for. A connection that the server
closed (a restart, an idle-session timeout, pg_terminate_backend) is not silent, though: the
server sends an error and closes the socket, so the idle connection's socket turns readable.
`is_usable()` here asks the kernel whether anything is waiting on an idle connection (a
`poll()` with no timeout) and only then falls back to Django's `SELECT 1`, which either
proves the connection alive (a notice was waiting) or gets it closed and reopened.

What this cannot see, a peer that vanished without a word (a network partition), `SELECT 1`
would not see either before the TCP timeout; Django then closes the connection on the error
(`errors_occurred`) and the next request reconnects.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return super().is_usable()
        poller = select.poll()
        poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
        if poller.poll(0):  # the server said something while we were idle: ask it properly
            return super().is_usable()
        return True
