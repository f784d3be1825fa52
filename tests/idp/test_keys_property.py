"""Property: across a year of scheduled rotations, every token we sign verifies against any
JWKS an RP fetched up to the pre-publication window earlier, and keeps verifying against
every later JWKS until it expires."""

import random
from bisect import bisect_left
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.conf import idp_settings
from idp.models import SigningKey
from idp.services import keys

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)


@settings(
    max_examples=3,
    deadline=None,
    # A failure is reported as found: shrinking a year-long simulation would take minutes.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1), longest_gap_hours=st.sampled_from([12, 26, 47]))
def test_tokens_verify_against_any_jwks_fetched_within_the_window(seed, longest_gap_hours):
    SigningKey.objects.all().delete()
    keys.key_ring_reset()
    rng = random.Random(seed)
    window = idp_settings.KEY_PREPUBLISH_PERIOD
    lifetime = idp_settings.SIGNED_TOKEN_MAX_TTL

    now = START
    snapshots: list[tuple[datetime, dict]] = []  # (fetched at, JWKS document)
    tokens: list[tuple[datetime, str, str]] = []  # (signed at, kid, token)
    while now < START + YEAR:
        # Beat runs at irregular times: a worker may be slow, down, or restarted.
        keys.signing_key_rotate(now=now)
        ring = keys.key_ring()
        snapshots.append((now, ring.jwks))
        for alg in ("RS256", "ES256", "EdDSA"):
            token = keys.jwt_sign({"iat": int(now.timestamp())}, alg=alg)
            tokens.append((now, ring.active[alg], token))
        now += timedelta(minutes=rng.randint(30, longest_gap_hours * 60))

    signing_keys = {kid for _, kid, _ in tokens}
    assert len(signing_keys) >= 3 * 12  # a year really did rotate, about monthly, per alg

    key_sets: dict[str, KeySet] = {}  # one parsed JWKS per distinct document
    times = [t for t, _ in snapshots]
    kid_sets = [{k["kid"] for k in jwks["keys"]} for _, jwks in snapshots]
    for signed_at, kid, token in tokens:
        first = bisect_left(times, signed_at - window)
        last = bisect_left(times, signed_at + lifetime)
        for i in range(first, min(last, len(times))):
            assert kid in kid_sets[i], (
                f"token signed {signed_at} by {kid} missing from JWKS fetched {times[i]}"
            )
        # An RP that fetched the JWKS as early as allowed verifies the signature for real.
        document = snapshots[first][1]
        fingerprint = ",".join(sorted(k["kid"] for k in document["keys"]))
        if fingerprint not in key_sets:
            key_sets[fingerprint] = KeySet.import_key_set(document)
        jwt.decode(token, key_sets[fingerprint], algorithms=["RS256", "ES256", "EdDSA"])
