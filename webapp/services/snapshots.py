"""Read-only snapshots of a tenant and an end user for the widget's hot path.

Plain Core queries, each statement built once per process: the ORM's per-call statement and
instance machinery cost several times the rest of a returning user's request. Snapshots are
immutable; writes go through the ORM models under a lock (people._write).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import JSON, Boolean, Integer, String, text

from ..extensions import db
from ..models._types import UTCDateTime


@dataclass(frozen=True)
class TenantInfo:
    """The tenant as the widget API reads it; the same attribute names as models.Tenant."""

    id: int
    public_id: str
    name: str
    verification_mode: str
    allowed_origins: tuple
    seat_limit: int | None
    audience: str
    require_audience: bool
    issuer: str | None
    login_links_enabled: bool
    login_links_require_jti: bool
    login_links_max_age: int | None
    email_sign_in: str
    keys_version: int


@dataclass(frozen=True)
class OrgInfo:
    external_id: str
    name: str
    attrs: dict


@dataclass(frozen=True)
class UserInfo:
    id: int
    external_id: str | None
    anonymous: bool
    email: str | None
    name: str | None
    avatar_url: str | None
    attrs: dict
    verified: bool
    verified_via: str | None
    verified_alg: str | None
    verified_kid: str | None
    last_seen_at: datetime
    organizations: tuple[OrgInfo, ...] = field(default_factory=tuple)
    # The row id of the anonymous visitor named in the same lookup, when it has one to merge.
    visitor_row: int | None = None


_TENANT = text(
    "SELECT id, public_id, name, verification_mode, allowed_origins, seat_limit, audience, require_audience,"
    " issuer, login_links_enabled, login_links_require_jti, login_links_max_age, email_sign_in, keys_version"
    " FROM tenant WHERE public_id = :public_id"
).columns(allowed_origins=JSON, require_audience=Boolean, login_links_enabled=Boolean,
          login_links_require_jti=Boolean)

_USER_COLUMNS = (
    "SELECT u.id, u.external_id, u.anonymous, u.email, u.name, u.avatar_url, u.attrs, u.verified, u.verified_via,"
    " u.verified_alg, u.verified_kid, u.last_seen_at, o.external_id AS org_id, o.name AS org_name,"
    " o.attrs AS org_attrs, (SELECT v.id FROM end_user v WHERE v.tenant_id = u.tenant_id"
    " AND v.visitor_id = :visitor_id) AS visitor_row"
    " FROM end_user u LEFT JOIN org_membership m ON m.user_id = u.id"
    " LEFT JOIN organization o ON o.id = m.organization_id"
)
_USER_TYPES = dict(id=Integer, anonymous=Boolean, attrs=JSON, verified=Boolean, last_seen_at=UTCDateTime,
                   org_id=String, org_attrs=JSON, visitor_row=Integer)
_USER_BY_EXTERNAL_ID = text(
    _USER_COLUMNS + " WHERE u.tenant_id = :tenant_id AND u.external_id = :value ORDER BY m.position"
).columns(**_USER_TYPES)
_USER_BY_ID = text(_USER_COLUMNS + " WHERE u.id = :value ORDER BY m.position").columns(**_USER_TYPES)
_USER_BY_EMAIL = text(
    "SELECT id FROM end_user WHERE tenant_id = :tenant_id AND anonymous = :no AND lower(email) = :email"
    " ORDER BY last_seen_at DESC LIMIT 1"
)
_VISITOR_ROW = text("SELECT id FROM end_user WHERE tenant_id = :tenant_id AND visitor_id = :visitor_id")


def _run(statement, params: dict):
    """On the session's connection, skipping the ORM's per-statement work (plain SQL, no entities)."""
    return db.session.connection().execute(statement, params)


def tenant(public_id: str) -> TenantInfo | None:
    row = _run(_TENANT, {"public_id": public_id}).mappings().first()
    if row is None:
        return None
    values = dict(row)
    values["allowed_origins"] = tuple(values["allowed_origins"] or ())
    return TenantInfo(**values)


def user(tenant_id: int, external_id: str, visitor_id: str | None = None) -> UserInfo | None:
    """The user, and (in the same round trip) the row of the visitor `visitor_id` if it has one."""
    return _user(_run(_USER_BY_EXTERNAL_ID, {"tenant_id": tenant_id, "value": external_id, "visitor_id": visitor_id}))


def user_by_id(user_id: int) -> UserInfo | None:
    return _user(_run(_USER_BY_ID, {"value": user_id, "visitor_id": None}))


def user_id_by_email(tenant_id: int, email: str) -> int | None:
    return _run(_USER_BY_EMAIL, {"tenant_id": tenant_id, "email": email.lower(), "no": False}).scalar()


def visitor_row_id(tenant_id: int, visitor_id: str) -> int | None:
    return _run(_VISITOR_ROW, {"tenant_id": tenant_id, "visitor_id": visitor_id}).scalar()


def _user(result) -> UserInfo | None:
    rows = result.mappings().all()
    if not rows:
        return None
    first = rows[0]
    orgs = tuple(OrgInfo(r["org_id"], r["org_name"], r["org_attrs"] or {}) for r in rows if r["org_id"] is not None)
    return UserInfo(
        id=first["id"], external_id=first["external_id"], anonymous=bool(first["anonymous"]), email=first["email"],
        name=first["name"], avatar_url=first["avatar_url"], attrs=first["attrs"] or {},
        verified=bool(first["verified"]), verified_via=first["verified_via"], verified_alg=first["verified_alg"],
        verified_kid=first["verified_kid"], last_seen_at=first["last_seen_at"], organizations=orgs,
        visitor_row=first["visitor_row"],
    )
