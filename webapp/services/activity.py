"""What the Install page shows live: the tenant's latest identification and latest refusal."""
from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..identity.verifier import explain
from ..models import EndUser, Rejection
from .conversations import iso


def last_identification(tenant_id: int) -> dict:
    user = db.session.scalar(
        select(EndUser).where(EndUser.tenant_id == tenant_id, EndUser.anonymous.is_(False))
        .order_by(EndUser.last_seen_at.desc()).limit(1))
    refusal = db.session.scalar(
        select(Rejection).where(Rejection.tenant_id == tenant_id, Rejection.outcome == "refused")
        .order_by(Rejection.created_at.desc(), Rejection.id.desc()).limit(1))
    return {
        "user": None if user is None else {
            "id": user.external_id, "name": user.name, "email": user.email, "verified": user.verified,
            "how": _how(user), "at": iso(user.last_seen_at),
        },
        "refusal": None if refusal is None else {
            "code": refusal.code, "message": refusal.message, "explanation": explain(refusal.code),
            "kid": refusal.kid, "alg": refusal.alg, "origin": refusal.origin, "at": iso(refusal.created_at),
        },
    }


def _how(user: EndUser) -> str:
    if not user.verified:
        return "unsigned data (not verified)"
    via = "login link" if user.verified_via == "login_link" else "signed token"
    return f"{via}, {user.verified_alg}, key {user.verified_kid}"
