"""Read-only snapshots of a tenant and an end user for the widget's hot path.

The reads run on this thread's read connection (webapp/infra/read_connections.py); a snapshot
is kept there until the next commit anywhere (on PostgreSQL, those of one-row reads, checked in
the read's own round trip), and every read of the same rows until then gets the same object.
Snapshots are immutable (never change one of their dicts either; a user's `memo` only gains
values derived from the snapshot alone); writes go through user_writes.py, under a lock.
"""
from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol, runtime_checkable

from ...infra.read_connections import is_postgres, memoized
from ...infra.read_connections import run as _run  # looked up here at each call: tests may wrap it


@runtime_checkable
class TenantSettings(Protocol):
    """What a service reads of a tenant, as both forms have it: the ORM row `models.Tenant` (the
    dashboard's `g.workspace`, the CLI's) and the read-only snapshot `TenantInfo` (the widget API's
    and hosted page's `g.tenant_info`). A service typed with it reads these and writes nothing
    through them; one that changes a tenant takes `models.Tenant`."""

    @property
    def id(self) -> int: ...
    @property
    def public_id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def verification_mode(self) -> str: ...
    @property
    def allowed_origins(self) -> Sequence[str]: ...
    @property
    def seat_limit(self) -> int | None: ...
    @property
    def unsigned_user_limit(self) -> int | None: ...
    @property
    def audience(self) -> str: ...
    @property
    def require_audience(self) -> bool: ...
    @property
    def issuer(self) -> str | None: ...
    @property
    def login_links_enabled(self) -> bool: ...
    @property
    def login_links_require_jti(self) -> bool: ...
    @property
    def login_links_max_age(self) -> int | None: ...
    @property
    def email_sign_in(self) -> str: ...
    @property
    def keys_version(self) -> int: ...
    @property
    def unsigned_sessions_generation(self) -> int: ...
    @property
    def anonymous_visitors(self) -> bool: ...
    @property
    def anonymous_text(self) -> str | None: ...
    @property
    def legacy_user_hash(self) -> bool: ...
    @property
    def webhook_events(self) -> str: ...


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
    unsigned_user_limit: int | None
    unsigned_sessions_generation: int
    anonymous_visitors: bool
    anonymous_text: str | None
    legacy_user_hash: bool = False
    webhook_events: str = ""  # what enabled webhook endpoints subscribe to (services/events.wanted)


@dataclass(frozen=True)
class OrgInfo:
    external_id: str
    name: str
    attrs: dict
    signed: bool = False  # the organization was described by signed data
    member_signed: bool = False  # this user's membership was made by signed data


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
    email_verified: bool  # the email came from signed data or an email sign-in
    sessions_generation: int  # bumped by "end all sessions" (services/end_users/sessions.check)
    version: int  # bumped by every write of the user (user_writes.update_in_place applies only to it)
    organizations: tuple[OrgInfo, ...] = field(default_factory=tuple)
    # The row id of the anonymous visitor named in the same lookup, when it has one to merge.
    visitor_row: int | None = None
    # Values derived from this snapshot alone, kept with it (the public user's JSON: user_rules).
    # Not an argument: a snapshot made from another (dataclasses.replace) starts with none.
    memo: dict = field(default_factory=dict, init=False, compare=False, repr=False)


_TENANT_FIELDS = (
    "id", "public_id", "name", "verification_mode", "allowed_origins", "seat_limit", "audience", "require_audience",
    "issuer", "login_links_enabled", "login_links_require_jti", "login_links_max_age", "email_sign_in", "keys_version",
    "unsigned_user_limit", "unsigned_sessions_generation", "anonymous_visitors", "anonymous_text", "legacy_user_hash",
    "webhook_events",
)
_TENANT = f"SELECT {', '.join(_TENANT_FIELDS)} FROM tenant WHERE public_id = :public_id"
_USER_FIELDS_SQL = (
    "u.id, u.external_id, u.anonymous, u.email, u.name, u.avatar_url, u.attrs, u.verified, u.verified_via,"
    " u.verified_alg, u.verified_kid, u.last_seen_at, u.email_verified, u.sessions_generation, u.version"
)
_VISITOR_ROW_SQL = "(SELECT v.id FROM end_user v WHERE v.tenant_id = u.tenant_id AND v.visitor_id = :visitor_id) AS visitor_row"
_USER_SELECT = (
    f"SELECT {_USER_FIELDS_SQL}, o.external_id AS org_id, o.name AS org_name, o.attrs AS org_attrs,"
    f" o.signed AS org_signed, m.signed AS member_signed, {_VISITOR_ROW_SQL}"
)
_USER_JOINS = (" LEFT JOIN org_membership m ON m.user_id = u.id"
               " LEFT JOIN organization o ON o.id = m.organization_id")
_USER_COLUMNS = _USER_SELECT + " FROM end_user u" + _USER_JOINS
# The tenant and one of its users in one statement (`tenant_and_user`): the tenant's columns as t_<name>.
_TENANT_AND_USER = (
    _USER_SELECT + "".join(f", t.{name} AS t_{name}" for name in _TENANT_FIELDS)
    + " FROM tenant t LEFT JOIN end_user u ON u.tenant_id = t.id AND u.external_id = :value" + _USER_JOINS
    + " WHERE t.public_id = :public_id ORDER BY m.position"
)
# PostgreSQL: the same in one row, the organizations aggregated (`orgs`, a JSON array of [id,
# name, attrs, signed, member signed] in position order, their attrs as stored): a join sends
# the tenant's and the user's columns again with every organization, and psycopg builds each row.
_TENANT_AND_USER_POSTGRES = (
    f"SELECT {_USER_FIELDS_SQL}"
    ", (SELECT json_agg(json_build_array(o.external_id, o.name, o.attrs, o.signed, m.signed) ORDER BY m.position)"
    " FROM org_membership m JOIN organization o ON o.id = m.organization_id WHERE m.user_id = u.id) AS orgs"
    f", {_VISITOR_ROW_SQL}"
    + "".join(f", t.{name} AS t_{name}" for name in _TENANT_FIELDS)
    + " FROM tenant t LEFT JOIN end_user u ON u.tenant_id = t.id AND u.external_id = :value WHERE t.public_id = :public_id"
)
_USER_BY_EXTERNAL_ID = _USER_COLUMNS + " WHERE u.tenant_id = :tenant_id AND u.external_id = :value ORDER BY m.position"
_USER_BY_ID = _USER_COLUMNS + " WHERE u.id = :value ORDER BY m.position"
_USER_BY_EMAIL = (
    "SELECT id FROM end_user WHERE tenant_id = :tenant_id AND anonymous = :no AND lower(email) = :email"
    " AND email_verified = :yes ORDER BY last_seen_at DESC LIMIT 1"
)
_REVOKED = "SELECT 1 AS revoked FROM revoked_session WHERE sid = :sid"
# A user's session: the user's row (verified, generation) and the revocation, in one round trip.
_SESSION_USER = (
    "SELECT u.verified, u.sessions_generation, (SELECT 1 FROM revoked_session r WHERE r.sid = :sid) AS revoked"
    " FROM end_user u WHERE u.id = :user_id AND u.tenant_id = :tenant_id"
)


_SIGNED_ORGS = ("SELECT external_id, name, attrs, signed FROM organization WHERE tenant_id = :tenant_id"
                " AND signed = :yes AND external_id IN ({})")


def signed_organizations(tenant_id: int, external_ids: Sequence[str]) -> list[OrgInfo]:
    """Those of the named organizations that signed data described (the check before an unsigned
    write, services/end_users/organizations.refused_for_unsigned), read on the read connection."""
    # Parameter names of letters only (read_connections' :name style): org_a, org_b, ... org_bc.
    names = {"org_" + "".join(chr(97 + int(d)) for d in str(i)): value for i, value in enumerate(external_ids)}
    rows = _run(_SIGNED_ORGS.format(", ".join(f":{name}" for name in names)),
                {"tenant_id": tenant_id, "yes": True, **names})
    return [OrgInfo(r["external_id"], r["name"], _json(r["attrs"]) or {}, True) for r in rows]


def _json(value):
    """A JSON column's value: text from SQLite and PostgreSQL's plain reads, already parsed from a
    kept PostgreSQL read (read_connections._memoized_postgres). The JSON columns read here hold
    objects and arrays only (attrs, allowed origins), never a bare string."""
    return json.loads(value) if isinstance(value, str) else value


def _when(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _read(statement: str, params: dict, build, one_row: bool = False):
    """`build(rows)` of a read on the read connection, kept while the database is unchanged
    (read_connections.memoized: on SQLite every read, on PostgreSQL a `one_row` read), so what
    `build` returns is never mutated by anyone."""
    return memoized(statement, params, build, _run_now, one_row=one_row)


def _run_now(statement: str, params: dict) -> list[dict]:
    return _run(statement, params)  # the module global at call time (tests wrap it)


def tenant(public_id: str) -> TenantInfo | None:
    return _read(_TENANT, {"public_id": public_id}, _tenant, one_row=True)


def _tenant(rows: list[dict], prefix: str = "") -> TenantInfo | None:
    if not rows:
        return None
    values = {name: rows[0][prefix + name] for name in _TENANT_FIELDS}
    values["allowed_origins"] = tuple(_json(values["allowed_origins"]) or ())
    for flag in ("require_audience", "login_links_enabled", "login_links_require_jti", "anonymous_visitors",
                 "legacy_user_hash"):
        values[flag] = bool(values[flag])
    return TenantInfo(**values)


def user(tenant_id: int, external_id: str, visitor_id: str | None = None) -> UserInfo | None:
    """The user, and (in the same round trip) the row of the visitor `visitor_id` if it has one."""
    return _read(_USER_BY_EXTERNAL_ID, {"tenant_id": tenant_id, "value": external_id, "visitor_id": visitor_id}, _user)


def user_by_id(user_id: int) -> UserInfo | None:
    return _read(_USER_BY_ID, {"value": user_id, "visitor_id": None}, _user)


@dataclass(frozen=True)
class ReadAhead:
    """A user read together with their tenant (`tenant_and_user`), before the call that names them
    was checked: only a lookup of exactly this tenant, external id and visitor may use it, and
    everything decided about the user is decided after the checks, as with a read made then."""

    tenant_id: int
    external_id: str
    visitor_id: str | None
    user: UserInfo | None

    def user_for(self, tenant_id: int, external_id: str, visitor_id: str | None) -> UserInfo | None:
        """The user read ahead when the lookup is this one, else the read made now."""
        if (tenant_id, external_id, visitor_id) == (self.tenant_id, self.external_id, self.visitor_id):
            return self.user
        return user(tenant_id, external_id, visitor_id)


def tenant_and_user(public_id: str, external_id: str, visitor_id: str | None) -> tuple[TenantInfo | None, ReadAhead | None]:
    """The tenant and the user a set-user call names, in one read (one round trip on PostgreSQL
    where `tenant` then `user` make two); the user is that of `ReadAhead.user_for`."""
    params = {"public_id": public_id, "value": external_id, "visitor_id": visitor_id}
    if is_postgres():
        return _read(_TENANT_AND_USER_POSTGRES, params, functools.partial(_tenant_and_user_row, external_id, visitor_id),
                     one_row=True)
    return _read(_TENANT_AND_USER, params, functools.partial(_tenant_and_user, external_id, visitor_id))


def _tenant_and_user_row(external_id: str, visitor_id: str | None, rows: list[dict]):
    """_tenant_and_user of PostgreSQL's one row (its organizations aggregated)."""
    found = _tenant(rows, prefix="t_")
    if found is None:
        return None, None
    row = rows[0]
    if row["id"] is None:
        return found, ReadAhead(found.id, external_id, visitor_id, None)
    orgs = tuple(OrgInfo(org_id, name, attrs or {}, bool(signed), bool(member))
                 for org_id, name, attrs, signed, member in _json(row["orgs"]) or ())
    return found, ReadAhead(found.id, external_id, visitor_id, _user_info(row, orgs))


def _tenant_and_user(external_id: str, visitor_id: str | None, rows: list[dict]):
    found = _tenant(rows, prefix="t_")
    if found is None:
        return None, None
    return found, ReadAhead(found.id, external_id, visitor_id, _user(rows if rows[0]["id"] is not None else []))


def user_id_by_email(tenant_id: int, email: str) -> int | None:
    """The user an email signs in as (email sign-in, login-only links): the most recently seen
    user whose email is proven (`email_verified`: it came from signed data or an email sign-in).
    An email from unsigned data is self-asserted and never signs anyone in, so nobody can send
    `setUser({id: "mine", email: "yours"})` and catch your sign-in."""
    rows = _run(_USER_BY_EMAIL, {"tenant_id": tenant_id, "email": email.lower(), "no": False, "yes": True})
    return rows[0]["id"] if rows else None


def _user(rows: list[dict]) -> UserInfo | None:
    if not rows:
        return None
    orgs = tuple(OrgInfo(r["org_id"], r["org_name"], _json(r["org_attrs"]) or {}, bool(r["org_signed"]),
                         bool(r["member_signed"])) for r in rows if r["org_id"] is not None)
    return _user_info(rows[0], orgs)


def _user_info(first: dict, orgs: tuple[OrgInfo, ...]) -> UserInfo:
    return UserInfo(
        id=first["id"], external_id=first["external_id"], anonymous=bool(first["anonymous"]), email=first["email"],
        name=first["name"], avatar_url=first["avatar_url"], attrs=_json(first["attrs"]) or {},
        verified=bool(first["verified"]), verified_via=first["verified_via"], verified_alg=first["verified_alg"],
        verified_kid=first["verified_kid"], last_seen_at=_when(first["last_seen_at"]),
        email_verified=bool(first["email_verified"]), sessions_generation=first["sessions_generation"],
        version=first["version"], organizations=orgs,
        visitor_row=first["visitor_row"],
    )


def from_row(row) -> UserInfo:
    """The snapshot of a user row being written (models.EndUser), taken inside the write's own
    transaction: the answer to a write is built from what it wrote, never read again after the
    commit (a read that fails then would tell the client to retry a stored write)."""
    orgs = tuple(OrgInfo(m.organization.external_id, m.organization.name, m.organization.attrs or {},
                         bool(m.organization.signed), bool(m.signed)) for m in row.memberships)
    return UserInfo(
        id=row.id, external_id=row.external_id, anonymous=bool(row.anonymous), email=row.email, name=row.name,
        avatar_url=row.avatar_url, attrs=dict(row.attrs or {}), verified=bool(row.verified),
        verified_via=row.verified_via, verified_alg=row.verified_alg, verified_kid=row.verified_kid,
        last_seen_at=_when(row.last_seen_at), email_verified=bool(row.email_verified),
        sessions_generation=row.sessions_generation or 0, version=row.version or 0, organizations=orgs,
    )


def session_revoked(sid: str) -> bool:
    """Whether a widget session was ended on the server (checked on every bearer request)."""
    return _read(_REVOKED, {"sid": sid}, bool, one_row=True)


@dataclass(frozen=True)
class SessionUser:
    """What a user's bearer session is re-checked against on every request."""

    verified: bool
    sessions_generation: int
    revoked: bool


def session_user(sid: str, user_id: int, tenant_id: int) -> SessionUser | None:
    """The session's user as it stands now (None: no such user in this tenant any more), and
    whether the session was ended by logout: one read, the one a bearer request always made."""
    return _read(_SESSION_USER, {"sid": sid, "user_id": user_id, "tenant_id": tenant_id}, _session_user,
                 one_row=True)


def _session_user(rows: list[dict]) -> SessionUser | None:
    if not rows:
        return None
    row = rows[0]
    return SessionUser(bool(row["verified"]), row["sessions_generation"], bool(row["revoked"]))
