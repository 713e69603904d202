"""Verifying a tenant's tokens with the identity core, recording jtis and rejections."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ..database import writing
from ..extensions import db
from ..identity.errors import TokenRefused
from ..identity.verifier import Policy, VerifiedToken, inspect_token, verify_token
from ..models import Rejection, Tenant, UsedJti
from . import keyring
from .rejections import KEEP_REJECTIONS, record_rejection_now, to_record, trim
from .snapshots import TenantSettings

LEEWAY = 60
PRUNE_EVERY = 200  # every 200th jti recorded in a process also deletes the expired ones


def policy_for(tenant: TenantSettings) -> Policy:
    return Policy(
        tenant_id=tenant.public_id,
        audience=tenant.audience,
        require_audience=tenant.require_audience,
        issuer=tenant.issuer,
        leeway=LEEWAY,
    )


def verify(tenant: TenantSettings, token: object, *, now: float | None = None, origin: str | None = None,
           source: str = "widget") -> VerifiedToken:
    """Verified claims, or TokenRefused (logged in the tenant's recent rejections)."""
    now = time.time() if now is None else now
    keys = keyring.live_keys(tenant, datetime.fromtimestamp(now, timezone.utc))
    try:
        return verify_token(token, keys=keys, policy=policy_for(tenant), now=now)
    except TokenRefused as error:
        record_rejection_now(tenant, error.code, _with_cause(tenant, token, error, now), token=token, origin=origin,
                             source=source)
        raise


def _with_cause(tenant: TenantSettings, token: object, error: TokenRefused, now: float) -> str:
    """The message kept in the rejection log: the error's, then the likely cause (bounded forensics)."""
    from . import forensics

    if not isinstance(token, str) or error.code not in forensics.LOGGED:
        return error.message
    seen = inspect_token(token)
    found = forensics.explain(tenant, token, error.code, seen["header"], seen["claims"], now)
    return f"{error.message} {found.cause}" if found else error.message


def record_jti(tenant: TenantSettings, verified: VerifiedToken, *, now: float | None = None,
               origin: str | None = None, source: str = "widget") -> None:
    """Use up a one-time token, inside the caller's transaction; a second use is token_replayed.

    Keyed on (tenant, jti), never on the token's bytes. An expired row still waiting for the
    pruner is taken over; a live one is a replay. Database errors propagate: fail closed.
    """
    if verified.jti is None:
        return
    now = time.time() if now is None else now
    now_dt = datetime.fromtimestamp(now, timezone.utc)
    expires = datetime.fromtimestamp(max(verified.exp, now) + LEEWAY, timezone.utc)
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(UsedJti).values(tenant_id=tenant.id, jti=verified.jti, expires_at=expires)
    stmt = stmt.on_conflict_do_update(
        index_elements=[UsedJti.tenant_id, UsedJti.jti],
        set_={"expires_at": stmt.excluded.expires_at},
        where=UsedJti.expires_at < now_dt,
    ).returning(UsedJti.jti)
    # RETURNING, not rowcount: psycopg reports -1 for an upsert. No row back = a live jti = replay.
    if db.session.execute(stmt).scalar() is None:  # recorded by the caller's @records_refusals
        raise to_record(TokenRefused("token_replayed", "This token's jti was already used."), tenant,
                        kid=verified.kid, alg=verified.alg, origin=origin, source=source)
    if _prune_now():
        # On the fly, in the same transaction: the table stays bounded by the tokens still valid.
        db.session.execute(delete(UsedJti).where(UsedJti.expires_at < now_dt))


_recorded = [0]  # jtis recorded by this process


def _prune_now() -> bool:
    _recorded[0] += 1
    return _recorded[0] % PRUNE_EVERY == 0


def jti_used(tenant: TenantSettings, jti: str, now: float) -> bool:
    """For the token debugger: would this jti be a replay now? (Reads only.)"""
    expires = db.session.scalar(select(UsedJti.expires_at).where(UsedJti.tenant_id == tenant.id, UsedJti.jti == jti))
    return expires is not None and expires >= datetime.fromtimestamp(now, timezone.utc)


def recent_rejections(tenant: Tenant, limit: int = KEEP_REJECTIONS, outcome: str | None = None) -> list[Rejection]:
    stmt = select(Rejection).where(Rejection.tenant_id == tenant.id)
    if outcome:
        stmt = stmt.where(Rejection.outcome == outcome)
    return list(db.session.scalars(stmt.order_by(Rejection.created_at.desc(), Rejection.id.desc()).limit(limit)))


def prune(now: float | None = None) -> dict:
    """Delete expired jtis, revoked sessions and email sign-in links, and rejections beyond the kept window."""
    from ..models import RevokedSession
    from . import email_signin

    now_dt = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc)
    with writing() as session:
        jtis = session.execute(delete(UsedJti).where(UsedJti.expires_at < now_dt)).rowcount
        revoked = session.execute(delete(RevokedSession).where(RevokedSession.expires_at < now_dt)).rowcount
        old = session.execute(delete(Rejection).where(Rejection.created_at < now_dt - timedelta(days=30))).rowcount
        for tenant_id in list(session.scalars(select(Rejection.tenant_id).distinct())):
            trim(session, tenant_id)
    links = email_signin.prune(now)
    return {"jti": jtis, "revoked_sessions": revoked, "email_links": links, "rejections": old}


def diagnose(tenant: Tenant, token: str, now: float | None = None) -> dict:
    """What the token debugger shows: unverified contents, the key it would use, the verdict.

    Reads only: a debugged token's jti is not used up and nothing is logged.
    """
    from ..identity.errors import FieldRefused, Refused
    from ..identity.userdata import parse_claims, parse_ctx
    from ..identity.verifier import candidate_keys, explain
    from . import forensics

    now = time.time() if now is None else now
    token = token.strip()
    seen = inspect_token(token)
    keys = keyring.live_keys(tenant, datetime.fromtimestamp(now, timezone.utc))
    result = {**seen, "server_time": now, "candidates": [], "code": None, "message": None, "verified": None}
    if isinstance(seen["header"], dict):
        try:
            result["candidates"] = [k.kid for k in candidate_keys(seen["header"], keys)]
        except TokenRefused:
            pass
    try:
        verified = verify_token(token, keys=keys, policy=policy_for(tenant), now=now)
        parse_claims(verified.claims)
        parse_ctx(verified.claims)
        if verified.jti is not None and jti_used(tenant, verified.jti, now):
            raise TokenRefused("token_replayed", "This token's jti was already used.")
    except (TokenRefused, FieldRefused) as error:
        result.update(code=error.code, message=error.message, field=error.field)
    except Refused as error:
        result.update(code=error.code, message=error.message)
    else:
        result.update(verified={"kid": verified.kid, "alg": verified.alg, "exp": verified.exp})
    result["explanation"] = explain(result["code"]) if result["code"] else None
    result["reason"] = _reason(tenant, result, keys)
    if result["code"] and not result["reason"]:
        found = forensics.explain(tenant, token, result["code"], seen["header"], seen["claims"], now,
                                  checks=forensics.DEBUGGER_CHECKS)
        if found:
            result.update(reason=found.cause, explanation=found.fix, diagnosis=found.code)
    if result["verified"]:
        result["notice"] = forensics.grace_notice(tenant, result["verified"]["kid"], now)
    return result


def _reason(tenant: Tenant, result: dict, keys: list) -> str | None:
    """Why, in this workspace's own terms, for the refusals whose cause the message cannot name:
    too many live keys for a token without kid, or the audience. Never mentions other workspaces."""
    from ..identity.verifier import too_many_without_kid

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
