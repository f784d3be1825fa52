"""Brute-force protection for sign-in and second-factor codes, in the cache (Redis when
configured). Three counters per attempt: account+IP (tight), account (loose), IP (loose).
Past its free attempts a counter imposes a delay that doubles with each further failure, up
to a maximum. The account-wide limit is far above the account+IP one, so an attacker
hammering from one address is stopped without locking the real user out elsewhere."""

import hashlib
import time
from dataclasses import dataclass

from django.core.cache import cache

from idp.conf import idp_settings


@dataclass
class Verdict:
    allowed: bool
    retry_after: int = 0


def _keys(kind: str, account: str, ip: str) -> list[tuple[str, int]]:
    account_id = hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]
    return [
        (f"throttle:{kind}:acct-ip:{account_id}:{ip}", idp_settings.THROTTLE_ACCOUNT_IP_FREE),
        (f"throttle:{kind}:acct:{account_id}", idp_settings.THROTTLE_ACCOUNT_FREE),
        (f"throttle:{kind}:ip:{ip}", idp_settings.THROTTLE_IP_FREE),
    ]


def _delay(failures: int, free: int) -> int:
    if failures < free:
        return 0
    maximum = int(idp_settings.THROTTLE_MAX_DELAY.total_seconds())
    return min(2 ** (failures - free), maximum)


def throttle_check(*, kind: str, account: str, ip: str) -> Verdict:
    """May this attempt be made now?"""
    now = time.time()
    wait = 0
    for key, free in _keys(kind, account, ip):
        state = cache.get(key)
        if state:
            failures, last = state
            wait = max(wait, int(last + _delay(failures, free) - now + 0.999))
    return Verdict(allowed=wait <= 0, retry_after=max(wait, 0))


def throttle_failure(*, kind: str, account: str, ip: str) -> None:
    window = int(idp_settings.THROTTLE_WINDOW.total_seconds())
    now = time.time()
    for key, _free in _keys(kind, account, ip):
        failures, _last = cache.get(key) or (0, now)
        cache.set(key, (failures + 1, now), timeout=window)


def throttle_success(*, kind: str, account: str, ip: str) -> None:
    """A success clears this account's counter from this address."""
    cache.delete(_keys(kind, account, ip)[0][0])
