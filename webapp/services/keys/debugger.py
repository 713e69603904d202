"""The token debugger (Settings → Identity verification): what a pasted token contains, the key it
would use, the verdict, and why in this workspace's own terms. Reads only."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone

from ...identity.errors import FieldRefused, Refused, TokenRefused
from ...identity.userdata import parse_claims, parse_ctx
from ...identity.verifier import VerifiedToken, explain, inspect_token, verify_token
from ...models import Tenant
from ..end_users.snapshots import TenantSettings
from . import keyring
from .jtis import jti_used
from .tokens import policy_for


def diagnose(tenant: Tenant, token: str, now: float | None = None) -> dict:
    """What the token debugger shows: unverified contents, the key it would use, the verdict.

    Reads only: a debugged token's jti is not used up and nothing is logged.
    """
    from ...identity.verifier import candidate_keys
    from . import forensics

    now = time.time() if now is None else now
    token = token.strip()
    from ..idp import debugging, tokens as idp_tokens

    provider = idp_tokens.provider_of(tenant, token)
    if provider is not None:  # an identity provider's token: its keys only (services/idp)
        return debugging.diagnose(tenant, provider, token, now)
    seen = inspect_token(token)
    keys = keyring.live_keys(tenant, datetime.fromtimestamp(now, timezone.utc))
    result = {**seen, "server_time": now, "candidates": [], "code": None, "message": None, "verified": None}
    if isinstance(seen["header"], dict):
        try:
            result["candidates"] = [k.kid for k in candidate_keys(seen["header"], keys)]
        except TokenRefused:
            pass
    verified = judge(tenant, result, lambda: verify_token(token, keys=keys, policy=policy_for(tenant), now=now), now)
    if verified is not None:
        result.update(verified={"kid": verified.kid, "alg": verified.alg, "exp": verified.exp})
    result["reason"] = _reason(tenant, result, keys)
    if result["code"] == "token_unknown_key" and not result["reason"]:
        result["reason"] = debugging.foreign_kid(tenant, seen["header"], seen["claims"])
    if result["code"] and not result["reason"]:
        found = forensics.explain(tenant, token, result["code"], seen["header"], seen["claims"], now,
                                  checks=forensics.DEBUGGER_CHECKS)
        if found:
            result.update(reason=found.cause, explanation=found.fix, diagnosis=found.code)
    if result["verified"]:
        result["notice"] = forensics.grace_notice(tenant, result["verified"]["kid"], now)
    return result


def judge(tenant: TenantSettings, result: dict, verify: Callable[[], VerifiedToken], now: float) -> VerifiedToken | None:
    """The verdict as the widget would reach it, without using the jti up: `verify` (signature and
    claims), the user data rules, whether the jti was already used. A refusal's code, message,
    field and explanation go into `result` (explanation None when verified); the verified token
    is returned, or None when refused."""
    try:
        verified = verify()
        parse_claims(verified.claims)
        parse_ctx(verified.claims)
        if verified.jti is not None and jti_used(tenant, verified.jti, now):
            raise TokenRefused("token_replayed", "This token's jti was already used.")
    except (TokenRefused, FieldRefused) as error:
        result.update(code=error.code, message=error.message, field=error.field)
        verified = None
    except Refused as error:
        result.update(code=error.code, message=error.message)
        verified = None
    result["explanation"] = explain(result["code"]) if result["code"] else None
    return verified


def _reason(tenant: Tenant, result: dict, keys: list) -> str | None:
    """Why, in this workspace's own terms, for the refusals whose cause the message cannot name:
    too many live keys for a token without kid, or the audience. Never mentions other workspaces."""
    from ...identity.verifier import too_many_without_kid

    header, claims = result["header"] or {}, result["claims"] or {}
    if result["code"] == "token_unknown_key" and isinstance(header, dict):
        count = too_many_without_kid(header, keys)
        if count:
            what = "secrets" if header.get("alg") == "HS256" else "keys"
            return (f"This workspace has {count} live {header.get('alg')} {what}; tokens must name their kid. "
                    f"Without kid only {' and '.join(result['candidates'])} are tried.")
    if result["code"] == "token_bad_audience" and isinstance(claims, dict):
        if "aud" not in claims:
            return f"The token has no aud and this workspace requires one; this workspace's audience is {tenant.audience}."
        got = json.dumps(claims["aud"], ensure_ascii=False)[:300]
        return f"Expected aud {tenant.audience}, got {got}; this workspace's audience is {tenant.audience}."
    return None
