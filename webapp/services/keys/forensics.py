"""What a refused token gets beyond its code, in this workspace's own terms: the token debugger's
"Why" and "How to fix" lines, and the short cause kept in the rejection log (never the token).

From the token and the tenant's own keys only. Costs are bounded: the signature forensics run
only for token_bad_signature, with at most WIDGET_CHECKS public-key checks on the widget path
(identity/forensics.py), and one query for the suspects; a revoked or expired kid costs one query.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from ...identity.forensics import Diagnosis, diagnose_signature
from ...identity.errors import TokenRefused
from ...identity.verifier import candidate_keys
from ...templating import when
from . import keyring
from ..end_users.snapshots import TenantSettings

WIDGET_CHECKS = 6
# The refusals whose log entry gets a cause (cheap to find, or bounded as above).
LOGGED = ("token_bad_signature", "token_unknown_key", "token_bad_audience", "token_bad_issuer", "token_wrong_tenant")
DEBUGGER_CHECKS = 12


def explain(tenant: TenantSettings, token: str, code: str, header: object, claims: object, now: float,
            checks: int = WIDGET_CHECKS) -> Diagnosis | None:
    """The likely cause of a refusal with `code`, or None when there is nothing more to say."""
    header = header if isinstance(header, dict) else {}
    claims = claims if isinstance(claims, dict) else {}
    if code == "token_bad_signature":
        return _signature(tenant, token, header, now, checks)
    if code == "token_unknown_key" and isinstance(header.get("kid"), str):
        return _dead_kid(tenant, header["kid"])
    if code == "token_bad_audience":
        if "aud" not in claims:
            return Diagnosis("audience", f"The token has no aud; this workspace requires {tenant.audience}.",
                             f"Set aud to {tenant.audience}.")
        got = json.dumps(claims["aud"], ensure_ascii=False)[:300]
        return Diagnosis("audience", f"Expected aud {tenant.audience}, got {got}.", f"Set aud to {tenant.audience}.")
    if code == "token_bad_issuer":
        got = json.dumps(claims["iss"], ensure_ascii=False)[:300] if "iss" in claims else "no iss"
        return Diagnosis("issuer", f"Expected iss {tenant.issuer}, got {got}.",
                         f"Set iss to {tenant.issuer} (Settings → Identity verification pins it), or clear the pin.")
    if code == "token_wrong_tenant":
        got = json.dumps(claims.get("tid"), ensure_ascii=False)[:300]
        return Diagnosis("tenant", f"Expected tid {tenant.public_id}, got {got}.",
                         f"Set tid to {tenant.public_id}, or leave tid out.")
    return None


def _signature(tenant: TenantSettings, token: str, header: dict, now: float, checks: int) -> Diagnosis | None:
    alg = header.get("alg")
    try:
        named = candidate_keys(header, keyring.live_keys(tenant, datetime.fromtimestamp(now, timezone.utc)))
    except TokenRefused:
        return None
    return diagnose_signature(token, named, keyring.suspects(tenant, alg), budget=checks, when=when)


def _dead_kid(tenant: TenantSettings, kid: str) -> Diagnosis | None:
    """A kid this workspace had: revoked, or replaced and past its grace window."""
    row = keyring.find(tenant, kid)
    if row is None:
        return None
    newest = keyring.newest_active(tenant, row.kind)
    fix = (f"Sign with {newest.kid} (the newest live {'secret' if row.kind == 'secret' else 'key'}) and put its kid "
           "in the header." if newest else "Add a new secret or key on Settings → Secrets and keys and sign with it.")
    if row.revoked_at is not None:
        return Diagnosis("revoked", f"Key {kid} was revoked at {when(row.revoked_at)}.", fix)
    if row.grace_ends_at is not None:
        return Diagnosis("grace_over", f"Key {kid} was replaced; its grace window ended at {when(row.grace_ends_at)}.", fix)
    return None


def grace_notice(tenant: TenantSettings, kid: str, now: float) -> str | None:
    """For a token that verified with a key in its grace window: when it stops and what to move to."""
    row = keyring.find(tenant, kid)
    if row is None or row.grace_ends_at is None or row.revoked_at is not None:
        return None
    newest = keyring.newest_active(tenant, row.kind)
    move = f": move your backend to {'secret' if row.kind == 'secret' else 'key'} {newest.kid}" if newest else ""
    return f"Signed with key {kid}, which stops working at {when(row.grace_ends_at)}{move}."
