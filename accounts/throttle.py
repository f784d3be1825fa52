"""Brute-force protection for sign-in and second-factor codes, in the cache (Redis when
configured). Three counters per attempt: account+IP (tight), account (loose), IP (loose).

Every attempt is counted atomically *before* the credential is checked (so a burst of
parallel guesses cannot all pass), and a success takes its count back. Past its free attempts
a counter imposes a delay that doubles with each further attempt. The account-wide delay is
capped at a minute: an attacker hammering an account from many addresses slows its owner
down, but cannot lock them out.
"""

import contextlib
import hashlib
import math
import time
from dataclasses import dataclass

from django.core.cache import cache

from idp.conf import idp_settings

ACCOUNT_MAX_DELAY = 60


@dataclass
class Verdict:
    allowed: bool
    retry_after: int = 0


def _keys(kind: str, account: str, ip: str) -> list[tuple[str, int, int]]:
    account_id = hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]
    maximum = int(idp_settings.THROTTLE_MAX_DELAY.total_seconds())
    return [
        (f"throttle:{kind}:acct-ip:{account_id}:{ip}", idp_settings.THROTTLE_ACCOUNT_IP_FREE,
         maximum),
        (f"throttle:{kind}:acct:{account_id}", idp_settings.THROTTLE_ACCOUNT_FREE,
         min(maximum, ACCOUNT_MAX_DELAY)),
        (f"throttle:{kind}:ip:{ip}", idp_settings.THROTTLE_IP_FREE, maximum),
    ]  # fmt: skip


def _count(key: str, window: int) -> int:
    cache.add(key, 0, timeout=window)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr, or the cache is unavailable
        cache.set(key, 1, timeout=window)
        return 1


def throttle_check(*, kind: str, account: str, ip: str) -> Verdict:
    """Count this attempt and say whether it may proceed now."""
    window = int(idp_settings.THROTTLE_WINDOW.total_seconds())
    now = time.time()
    wait = 0.0
    for key, free, maximum in _keys(kind, account, ip):
        attempts = _count(key, window)
        if attempts > free:
            last = cache.get(f"{key}:last") or 0
            delay = min(2 ** (attempts - free - 1), maximum)
            wait = max(wait, last + delay - now)
        cache.set(f"{key}:last", now, timeout=window)
    return Verdict(allowed=wait <= 0, retry_after=max(math.ceil(wait), 0))


def throttle_failure(*, kind: str, account: str, ip: str) -> None:
    """Nothing more to count: throttle_check() counted the attempt already."""


def throttle_success(*, kind: str, account: str, ip: str) -> None:
    """A success takes its attempt back, and clears this account's count from this address."""
    keys = _keys(kind, account, ip)
    cache.delete(keys[0][0])
    for key, _free, _max in keys[1:]:
        with contextlib.suppress(ValueError):
            cache.decr(key)


def throttled_response(request, template: str, retry_after: int, context: dict):
    """Too many attempts: the page again with a clear message, HTTP 429 and Retry-After."""
    from django.shortcuts import render
    from django.utils.translation import gettext as _

    minutes, seconds = divmod(retry_after, 60)
    wait = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    context["throttle_message"] = _(
        "Too many attempts. For your security, please wait %(wait)s before trying again."
    ) % {"wait": wait}
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(retry_after)
    return response
