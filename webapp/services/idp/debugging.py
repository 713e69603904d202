"""The token debugger's side of identity providers: which provider a token is for, the key it
names, and why it is refused, in this workspace's own terms. Reads only: fetches nothing, uses no
jti up (the keys are the shared row's, as last fetched)."""
from __future__ import annotations

import json

from sqlalchemy import select

from ...extensions import db
from ...identity.providers import JwkSet, verify_provider_token
from ...identity.verifier import inspect_token
from ...models import IdentityProvider
from ..end_users.snapshots import TenantSettings
from ..keys.debugger import judge
from .providers import Configured, _stored_keys, configured


def _stored(provider: Configured) -> tuple[JwkSet, str | None]:
    row = db.session.execute(select(IdentityProvider.jwks_document, IdentityProvider.jwks_fetched_at)
                             .where(IdentityProvider.id == provider.id)).first()
    if row is None:
        return JwkSet(), None
    return _stored_keys(row.jwks_document), row.jwks_fetched_at.isoformat() if row.jwks_fetched_at else None


def diagnose(tenant: TenantSettings, provider: Configured, token: str, now: float) -> dict:
    """What the debugger shows for a provider's token (the shape of debugger.diagnose's result)."""
    seen = inspect_token(token)
    keyset, fetched_at = _stored(provider)
    policy = provider.policy
    header = seen["header"] if isinstance(seen["header"], dict) else {}
    kid = header.get("kid")
    result = {**seen, "server_time": now, "code": None, "message": None, "verified": None,
              "provider": {"id": policy.public_id, "name": policy.name, "issuer": policy.issuer},
              "candidates": [k.kid for k in keyset.keys if (k.kid == kid if kid is not None else k.alg == header.get("alg"))]}
    verified = judge(tenant, result, lambda: verify_provider_token(token, keys=keyset.keys, provider=policy, now=now), now)
    if verified is not None:
        result["verified"] = {"kid": verified.kid.split(":", 1)[1], "alg": verified.alg, "exp": verified.exp,
                              "provider": policy.name}
    result["reason"] = _reason(result, keyset, fetched_at, policy)
    return result


def _reason(result: dict, keyset: JwkSet, fetched_at: str | None, policy) -> str:
    """Which provider, which key, and why refused."""
    claims = result["claims"] if isinstance(result["claims"], dict) else {}
    header = result["header"] if isinstance(result["header"], dict) else {}
    lead = f"This token's iss is identity provider {policy.name}'s ({policy.issuer}): only its keys verify it."
    code = result["code"]
    if code == "token_unknown_key":
        kid = header.get("kid")
        ignored = dict(keyset.ignored)
        if kid in ignored:
            return f"{lead} Its JWKS has key {kid}, but it is ignored: {ignored[kid]}"
        kids = ", ".join(k.kid for k in keyset.keys) or "none"
        return (f"{lead} Its JWKS (fetched {fetched_at or 'never'}) has no key {kid!r}; its keys: {kids}. Signet fetches it "
                "again at most once a minute when a token names a key it has not seen.")
    if code == "token_bad_audience":
        got = json.dumps({k: claims.get(k) for k in ("aud", "azp")}, ensure_ascii=False)[:300]
        return (f"{lead} Its tokens must have aud containing one of {list(policy.audiences)} or azp equal to one of "
                f"{list(policy.authorized_parties)}; this one has {got}: it was made for another app.")
    if code is None:
        return f"{lead} Verified with its key {result['verified']['kid']}."
    return lead


def foreign_kid(tenant: TenantSettings, header: object, claims: object) -> str | None:
    """For a token refused on the workspace's own keys: its kid is a provider's key, but its iss is not
    that provider's (provider keys verify only tokens with the provider's iss)."""
    if not isinstance(header, dict) or not isinstance(header.get("kid"), str):
        return None
    for provider in configured(tenant):
        keyset, _ = _stored(provider)
        if any(key.kid == header["kid"] for key in keyset.keys):
            iss = claims.get("iss") if isinstance(claims, dict) else None
            return (f"Key {header['kid']} belongs to identity provider {provider.policy.name}, whose tokens carry iss "
                    f"{provider.policy.issuer}; this token's iss is {iss!r}, so it is checked against this workspace's "
                    "own keys and secrets only.")
    return None
