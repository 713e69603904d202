"""Verifying a tenant's tokens with the identity core: the tenant's policy and live keys; a refusal
is logged in the tenant's recent rejections (with a bounded cause from forensics.py)."""
from __future__ import annotations

import functools
import time
from datetime import datetime, timezone

from flask import current_app

from ...identity.errors import TokenRefused
from ...identity.verifier import Policy, RecentTokens, VerifiedToken, inspect_token, verify_token
from . import keyring, usage
from .rejections import record_rejection_now
from ..idp import tokens as idp_tokens
from ..end_users.snapshots import TenantSettings

LEEWAY = 60


def policy_for(tenant: TenantSettings) -> Policy:
    return _policy(tenant.public_id, tenant.audience, bool(tenant.require_audience), tenant.issuer)


@functools.lru_cache(maxsize=1024)
def _policy(tenant_id: str, audience: str, require_audience: bool, issuer: str | None) -> Policy:
    """One Policy per set of settings (a frozen value: made once, not per token)."""
    return Policy(tenant_id=tenant_id, audience=audience, require_audience=require_audience, issuer=issuer,
                  leeway=LEEWAY)


def verify(tenant: TenantSettings, token: object, *, now: float | None = None, origin: str | None = None,
           source: str = "widget") -> VerifiedToken:
    """Verified claims, or TokenRefused (logged in the tenant's recent rejections)."""
    now = time.time() if now is None else now
    provider = idp_tokens.provider_of(tenant, token)  # a provider's iss: its keys only, never the tenant's
    try:
        if provider is not None:
            verified = _provider_token(provider, token, now, source)
        else:
            keys = keyring.live_keys(tenant, datetime.fromtimestamp(now, timezone.utc))
            verified = verify_token(token, keys=keys, policy=policy_for(tenant), now=now,
                                    recent=_recent() if source == "widget" else None)
    except TokenRefused as error:
        cause = error.message if provider is not None else _with_cause(tenant, token, error, now)
        record_rejection_now(tenant, error.code, cause, token=token, origin=origin, source=source)
        raise
    usage.count_verification(tenant.id, verified.kid, now)  # memory only (usage.py)
    return verified


def recent_user_id(token: object) -> str | None:
    """The user id named by a widget token this process verified lately (its kept claims), else
    None: a guess that lets set-user read the user ahead (widget_api/guards.py). It proves
    nothing; the token is verified as usual before anything is decided about that user."""
    entry = _recent().get(token)
    parsed = entry[3].get("user_data") if entry is not None else None
    return parsed[0].id if parsed is not None else None


def _recent() -> RecentTokens:
    """This process's widget tokens verified lately (identity/verifier.RecentTokens: their decoding and
    signature check are not redone; every other rule is). Login links are never kept."""
    recent = current_app.extensions.get("signet_recent_tokens")
    if recent is None:
        recent = current_app.extensions.setdefault("signet_recent_tokens", RecentTokens())
    return recent


def _provider_token(provider, token: object, now: float, source: str) -> VerifiedToken:
    """An identity provider's token (services/idp): never a login link, which this workspace signs."""
    if source == "login_link":
        raise TokenRefused("token_bad_issuer", f"A login link is signed with this workspace's secret or key; a token of "
                                               f"identity provider {provider.policy.name} cannot be one.")
    return idp_tokens.verify(provider, token, now)


def _with_cause(tenant: TenantSettings, token: object, error: TokenRefused, now: float) -> str:
    """The message kept in the rejection log: the error's, then the likely cause (bounded forensics)."""
    from . import forensics

    if not isinstance(token, str) or error.code not in forensics.LOGGED:
        return error.message
    seen = inspect_token(token)
    found = forensics.explain(tenant, token, error.code, seen["header"], seen["claims"], now)
    return f"{error.message} {found.cause}" if found else error.message
