"""What the Install page shows live: the tenant's latest identification and latest refusal."""
from __future__ import annotations

from sqlalchemy import select

from ...extensions import db
from ...identity.verifier import explain
from ...models import EndUser, Rejection, Tenant
from ..keys import origin_refusals
from ..messaging.conversations import iso
from ...templating import when


def last_identification(tenant: Tenant) -> dict:
    """The newest identified user, the newest refusal other than an origin's, and the newest
    refused origin that is still not allowed (with whether one click can allow it)."""
    tenant_id = tenant.id
    user = db.session.scalar(
        select(EndUser).where(EndUser.tenant_id == tenant_id, EndUser.anonymous.is_(False))
        .order_by(EndUser.last_seen_at.desc()).limit(1))
    refusal = db.session.scalar(
        select(Rejection).where(Rejection.tenant_id == tenant_id, Rejection.outcome == "refused",
                                Rejection.code != origin_refusals.CODE)
        .order_by(Rejection.created_at.desc(), Rejection.id.desc()).limit(1))
    return {
        "user": None if user is None else {
            "id": user.external_id, "name": user.name, "email": user.email, "verified": user.verified,
            "displayName": user.display_name, "badge": badge(verification_state(user)), "how": how_verified(user)[1], "at": iso(user.last_seen_at), "when": when(user.last_seen_at),
        },
        "refusal": None if refusal is None else {
            "code": refusal.code, "message": refusal.message, "explanation": explain(refusal.code),
            "kid": refusal.kid, "alg": refusal.alg, "origin": refusal.origin, "at": iso(refusal.created_at),
            "when": when(refusal.created_at),
        },
        "origin": refused_origin(tenant),
    }


def refused_origin(tenant: Tenant) -> dict | None:
    """The newest origin refusal whose origin is still refused, or None."""
    rows = db.session.scalars(
        select(Rejection).where(Rejection.tenant_id == tenant.id, Rejection.code == origin_refusals.CODE)
        .order_by(Rejection.created_at.desc(), Rejection.id.desc()).limit(origin_refusals.KEEP))
    allowed = set(tenant.allowed_origins or [])
    row = next((r for r in rows if r.origin not in allowed), None)
    if row is None:
        return None
    return {"origin": row.origin, "message": row.message, "at": iso(row.created_at), "when": when(row.created_at),
            "allow": origin_refusals.can_allow(tenant, row.origin)}


VIA = {"token": "token", "login_link": "login link", "email": "email sign-in", "server_api": "server API",
       "legacy_hash": "legacy hash, no expiry"}
# The badge each verification state shows, on every page and in the Install page's live JSON.
BADGES = {"verified": ("ok", "Verified"), "unverified": ("warn", "Not verified"), "anonymous": ("neutral", "Anonymous")}


def verification_state(user) -> str:
    """"anonymous", "verified" or "unverified": for an EndUser or a row with its column names."""
    if user.anonymous:
        return "anonymous"
    return "verified" if user.verified else "unverified"


def badge(state: str) -> dict:
    """{"tone", "label"} of a verification state's badge (BADGES)."""
    tone, label = BADGES[state]
    return {"tone": tone, "label": label}


def how_verified(user: EndUser) -> tuple[str, str]:
    """("verified", "token, EdDSA, key key_…"), ("unverified", "unsigned data") or ("anonymous", "visitor").

    A user verified by email sign-in reads "email sign-in" (rows made before verified_via was kept
    too); when the secret or key that verified them has been revoked since, the line says so."""
    state = verification_state(user)
    if state != "verified":
        return state, "visitor" if state == "anonymous" else "unsigned data"
    via = user.verified_via or ("email" if user.created_via == "email" else None)
    if via == "email":
        return "verified", VIA["email"]
    if via == "provider":
        return "verified", _provider_line(user)
    kid = user.verified_kid or ""
    kind = "secret" if kid.startswith("sec_") else "key"
    parts = [VIA.get(via or "", via or "signed data"), user.verified_alg or "",
             f"{kind} {kid}" if kid else "", f"{kind} revoked since" if kid and _revoked(user, kid) else ""]
    return "verified", ", ".join(p for p in parts if p)


def _provider_line(user: EndUser) -> str:
    """"identity provider <name>, <kid>" ("…, removed since" when it is no longer configured)."""
    from ..idp.providers import by_public_id

    public_id, _, kid = (user.verified_kid or "").partition(":")
    tenant_id = getattr(user, "tenant_id", None)
    tenant = db.session.get(Tenant, tenant_id) if tenant_id is not None else None
    provider = by_public_id(tenant, public_id) if tenant is not None else None
    name = provider.policy.name if provider else public_id
    return f"identity provider {name}, {kid}" + ("" if provider else ", removed since")


def _revoked(user: EndUser, kid: str) -> bool:
    """Whether the tenant no longer holds `kid` unrevoked: from the keyring's per-process cache, and
    the tenant row from the session's identity map (the page already read it), so no query per user."""
    from ..keys import keyring

    tenant_id = getattr(user, "tenant_id", None)  # an export row may carry only the columns it shows
    tenant = db.session.get(Tenant, tenant_id) if tenant_id is not None else None
    return tenant is not None and not keyring.unrevoked(tenant, kid)
