"""The token path's side of identity providers: whether a token is a provider's (by its `iss`),
and its verification with that provider's keys only, refetching once for an unknown kid."""
from __future__ import annotations

from datetime import datetime, timezone

from ...identity import jose
from ...identity.errors import TokenRefused
from ...identity.providers import peek_issuer, verify_provider_token
from ...identity.verifier import VerifiedToken
from ..end_users.snapshots import TenantSettings
from . import jwks
from .providers import Configured, configured


def provider_of(tenant: TenantSettings, token: object) -> Configured | None:
    """The tenant's provider whose issuer the token's (unverified) `iss` names, else None. A
    tenant without providers pays nothing: the token is not even peeked at."""
    providers = configured(tenant)
    if not providers:
        return None
    iss = peek_issuer(token)
    return next((p for p in providers if p.policy.issuer == iss), None) if iss is not None else None


def verify(provider: Configured, token: object, now: float) -> VerifiedToken:
    """The token verified with the provider's keys, or TokenRefused. A kid the held keys lack
    makes one refetch (shared, at most once a minute per provider), never a wait on another's."""
    now_dt = datetime.fromtimestamp(now, timezone.utc)
    keys = jwks.keys_for(provider.id, provider.policy.public_id, now_dt).keys
    try:
        return verify_provider_token(token, keys=keys, provider=provider.policy, now=now)
    except TokenRefused as refused:
        kid = _kid(token) if refused.code == "token_unknown_key" else None
        if kid is None:
            raise
        again = jwks.refetch_for_kid(provider.id, provider.policy.public_id, kid, now_dt)
        if again is None:
            raise
        return verify_provider_token(token, keys=again.keys, provider=provider.policy, now=now)


def _kid(token: object) -> str | None:
    try:
        kid = jose.decode_header(jose.check_shape(token)).get("kid")
    except TokenRefused:
        return None
    return kid if isinstance(kid, str) else None
