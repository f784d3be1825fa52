"""Process-local copies of rarely-changing rows (signing keys, clients) that every process
can trust: each copy is guarded by a version in the shared cache (Redis) that every change
bumps after it commits.

A process re-reads that version at most once per IDP_LOCAL_CACHE_TTL (a second by default),
so the hot paths (JWKS, discovery, every token request) make no round trip at all most of
the time, and a change made by another process is seen within that interval. The process
that makes a change drops its own copies at once.

Transactions: a change made inside a transaction that has not committed yet must not leak
into a copy other requests would use. So after a local change, and until it commits, a
lookup made inside a transaction bypasses the copies (reads the database, stores nothing);
outside any transaction, the copies are dropped and rebuilt from committed data.
"""

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction

from idp.conf import idp_settings


class SharedVersion:
    """A version string in the shared cache, read at most once per IDP_LOCAL_CACHE_TTL."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._seen: str | None = None
        self._seen_at = 0.0

    def get(self) -> str:
        ttl = idp_settings.LOCAL_CACHE_TTL.total_seconds()
        now = time.monotonic()
        seen = self._seen
        if seen is not None and now - self._seen_at < ttl:
            return seen
        version = cache.get(self.key)
        if version is None:
            # Cache empty (first start, Redis restarted): agree on a fresh version.
            cache.add(self.key, uuid.uuid4().hex, timeout=None)
            version = cache.get(self.key) or "uncached"
        self._seen, self._seen_at = version, now
        return version

    def forget(self) -> None:
        """Read the shared version again at the next get()."""
        self._seen = None

    def bump(self) -> None:
        """Every process drops its copies once the current transaction commits."""
        self._seen = None

        def publish() -> None:
            cache.set(self.key, uuid.uuid4().hex, timeout=None)
            self._seen = None

        transaction.on_commit(publish)


class VersionedMemo:
    """A dict of process-local copies, valid while the shared version is unchanged."""

    def __init__(self, key: str) -> None:
        self.version = SharedVersion(key)
        self._lock = threading.Lock()
        self._data: dict[Any, Any] = {}
        self._loaded_version: str | None = None
        self._dirty = False  # changed here, not committed yet

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        """The copy for `key`, or load() it. None is returned but never stored."""
        if self._dirty:
            if connection.in_atomic_block:
                return load()
            self.clear()
        version = self.version.get()
        if version != self._loaded_version:
            with self._lock:
                self._data = {}
                self._loaded_version = version
        try:
            return self._data[key]
        except KeyError:
            pass
        value = load()
        if value is not None:
            self._data[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._data = {}
            self._loaded_version = None
            self._dirty = False
        self.version.forget()

    def invalidate(self) -> None:
        """A change was written: drop this process's copies now, every process's on commit."""
        self.clear()
        self._dirty = True

        def committed() -> None:
            self.clear()

        self.version.bump()
        transaction.on_commit(committed)
