"""RecentTokens (identity/verifier.py): what a process keeps of a token it verified lately is
only what the token's bytes and one key object decide (decoding, the signature check); every
other rule runs on each call as if the token were new."""
from __future__ import annotations

import pytest

from webapp.identity.errors import TokenRefused
from webapp.identity.keys import hmac_key
from webapp.identity.verifier import Policy, RecentTokens, VerificationKey, verify_token

from .conftest import NOW, POLICY, TENANT, claims, hs256

KEY = hmac_key("a" * 32)
OTHER = hmac_key("b" * 32)


def code(token, keys, recent, policy: Policy = POLICY, now: float = NOW) -> str:
    with pytest.raises(TokenRefused) as caught:
        verify_token(token, keys=keys, policy=policy, now=now, recent=recent)
    return caught.value.code


def test_a_kept_token_is_checked_again_for_time_audience_issuer_and_tenant():
    recent, keys = RecentTokens(), [VerificationKey("sec_1", "HS256", KEY)]
    token = hs256({"alg": "HS256", "kid": "sec_1"}, claims(exp=NOW + 600, aud="signet-widget", iss="me", tid=TENANT), KEY)
    first = verify_token(token, keys=keys, policy=POLICY, now=NOW, recent=recent)
    assert recent.get(token) is not None and first.memo is not None
    again = verify_token(token, keys=keys, policy=POLICY, now=NOW + 1, recent=recent)
    assert (again.kid, again.claims, again.memo) == ("sec_1", first.claims, first.memo)  # kept: same memo
    assert code(token, keys, recent, now=NOW + 600 + 61) == "token_expired"
    assert code(token, keys, recent, now=NOW - 200) == "token_not_yet_valid"  # iat = NOW
    assert code(token, keys, recent, policy=Policy(tenant_id=TENANT, audience="other")) == "token_bad_audience"
    assert code(token, keys, recent, policy=Policy(tenant_id=TENANT, issuer="someone else")) == "token_bad_issuer"
    assert code(token, keys, recent, policy=Policy(tenant_id="t_other")) == "token_wrong_tenant"


def test_a_kept_signature_counts_only_for_the_very_key_object_that_checked_it():
    recent = RecentTokens()
    token = hs256({"alg": "HS256", "kid": "sec_1"}, claims(), KEY)
    verify_token(token, keys=[VerificationKey("sec_1", "HS256", KEY)], policy=POLICY, now=NOW, recent=recent)
    # The same kid now holds another secret (a new keys_version makes new key objects): checked again.
    assert code(token, [VerificationKey("sec_1", "HS256", OTHER)], recent) == "token_bad_signature"
    assert code(token, [], recent) == "token_unknown_key"  # revoked, or past its grace window
    assert code(token, [VerificationKey("sec_2", "HS256", KEY)], recent) == "token_unknown_key"


def test_one_time_and_refused_tokens_are_never_kept():
    recent, keys = RecentTokens(), [VerificationKey("sec_1", "HS256", KEY)]
    one_time = hs256({"alg": "HS256", "kid": "sec_1"}, claims(jti="once"), KEY)
    assert verify_token(one_time, keys=keys, policy=POLICY, now=NOW, recent=recent).memo is None
    assert recent.get(one_time) is None
    expired = hs256({"alg": "HS256", "kid": "sec_1"}, claims(exp=NOW - 3600), KEY)
    assert code(expired, keys, recent) == "token_expired"
    forged = hs256({"alg": "HS256", "kid": "sec_1"}, claims(), OTHER)
    assert code(forged, keys, recent) == "token_bad_signature"
    assert recent.get(expired) is None and recent.get(forged) is None
    assert recent.get(["not", "a", "string"]) is None  # unhashable input is simply not found


def test_kept_tokens_are_bounded_and_go_stale():
    recent, keys = RecentTokens(size=2, ttl=60), [VerificationKey("sec_1", "HS256", KEY)]
    tokens = [hs256({"alg": "HS256", "kid": "sec_1"}, claims(id=f"u{i}"), KEY) for i in range(3)]
    for token in tokens:
        verify_token(token, keys=keys, policy=POLICY, now=NOW, recent=recent)
    assert [recent.get(t) is not None for t in tokens] == [False, True, True]
    stale = RecentTokens(ttl=-1)
    verify_token(tokens[0], keys=keys, policy=POLICY, now=NOW, recent=stale)
    assert stale.get(tokens[0]) is None
