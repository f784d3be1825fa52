"""A Redis cache that degrades instead of failing: when Redis is unreachable, reads miss and
writes are dropped (with a warning), so sign-in keeps working on the database alone.

What degrades while Redis is down: throttling counters restart from zero, key-ring changes
made by another node are seen only when Redis is back, Celery tasks wait (see
idp.services.logout: deliveries are resumed by beat). Sessions are cached_db: nobody is
signed out.
"""

import logging
import time

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("portcullis.cache")
FAILURES = (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
_last_warning = 0.0


def _warn(operation: str, exc: Exception) -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 10:  # one line per 10 s, not one per request
        _last_warning = time.monotonic()
        logger.warning("cache_unavailable operation=%s error=%s", operation, exc)


class ReusingRedisCacheClient(RedisCacheClient):
    """Django builds a new `redis.Redis` for every cache operation, and its constructor fills
    a table of ~300 response callbacks: about 0.4 ms each time on this machine, four times
    the round trip to Redis itself. A `redis.Redis` is thread-safe over its pool, so one per
    pool is enough."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class ResilientRedisCache(RedisCache):
    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

    def get(self, key, default=None, version=None):
        try:
            return super().get(key, default, version)
        except FAILURES as exc:
            _warn("get", exc)
            return default

    def get_many(self, keys, version=None):
        try:
            return super().get_many(keys, version)
        except FAILURES as exc:
            _warn("get_many", exc)
            return {}

    def set(self, key, value, timeout=None, version=None):  # noqa: A003
        try:
            return super().set(key, value, timeout, version)
        except FAILURES as exc:
            _warn("set", exc)
            return None

    def add(self, key, value, timeout=None, version=None):
        try:
            return super().add(key, value, timeout, version)
        except FAILURES as exc:
            _warn("add", exc)
            return False

    def delete(self, key, version=None):
        try:
            return super().delete(key, version)
        except FAILURES as exc:
            _warn("delete", exc)
            return False

    def touch(self, key, timeout=None, version=None):
        try:
            return super().touch(key, timeout, version)
        except FAILURES as exc:
            _warn("touch", exc)
            return False

    def incr(self, key, delta=1, version=None):
        try:
            return super().incr(key, delta, version)
        except FAILURES as exc:
            _warn("incr", exc)
            raise ValueError("cache unavailable") from exc

    def has_key(self, key, version=None):
        try:
            return super().has_key(key, version)
        except FAILURES as exc:
            _warn("has_key", exc)
            return False
