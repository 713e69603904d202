"""set-user's writes (API.md §3–§5): what identify.identify_with decided, written in one
transaction per call, only after every check passed.

Two fast paths and the locked path. `update_in_place`: an existing user's changes in one UPDATE
at the version read (no locked re-read, no ORM flush); `insert_new`: a new user with no seat limit
to count, one INSERT … RETURNING. Either returns None when the row moved on (or a concurrent call
inserted the user first) and nothing stayed: the caller then decides again from a fresh read
(identify.py; after a second miss, or a concurrent insert, it takes `write`), which holds the
user's row (BEGIN IMMEDIATE on SQLite, FOR UPDATE on PostgreSQL), decides again from what it
holds (`apply`, also the server API's write) and retries a concurrent insert. Events
(`emit_changes`) and the visitor's merge happen in the same transaction, and the token's jti is
recorded last, so a refused or rolled-back write never uses a token up.
"""
from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime, timezone

from psycopg.errors import DeadlockDetected
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import flag_modified

from ...infra.database import writing, writing_alone
from ...extensions import db
from ...identity.fields import same_attrs
from ...identity.userdata import MISSING, OrgData, UserData
from ...identity.verifier import VerifiedToken
from ...models import Conversation, EndUser
from .. import events
from ..keys import jtis
from ..webhooks import member_events
from . import legacy_hash, org_lists, organizations, snapshots, unsigned
from ..workspace import seats
from .snapshots import TenantSettings, UserInfo
from .user_rules import FIELDS, Proof, check_may_change, new_email_verified, only_identifies, signs, to_public

WRITE_ATTEMPTS = 3


def find_user(tenant_id: int, external_id: str, lock: bool = False) -> EndUser | None:
    """The user with their memberships and organizations (`lock`: the user's row is held until the
    transaction ends). On SQLite one statement: BEGIN IMMEDIATE already holds the database, so it
    reads the latest rows. On PostgreSQL the memberships come in a second statement, sent once
    the lock is held: a statement that waited for the lock sees the locked row as it is now, but
    the rows joined to it as they were when it started (READ COMMITTED)."""
    stmt = _find_user_statement(lock, db.engine.dialect.name == "postgresql")
    return db.session.execute(stmt, {"tenant_id": tenant_id, "external_id": external_id}).unique().scalar_one_or_none()


@functools.cache
def _find_user_statement(lock: bool, postgres: bool):
    stmt = (select(EndUser).where(EndUser.tenant_id == bindparam("tenant_id"),
                                  EndUser.external_id == bindparam("external_id"))
            .options(selectinload(EndUser.memberships) if postgres else joinedload(EndUser.memberships)))
    if lock:
        stmt = stmt.with_for_update(of=EndUser.__table__).execution_options(populate_existing=True)
    return stmt


def _visitor_row(tenant_id: int, visitor: str) -> EndUser | None:
    return db.session.scalar(select(EndUser).where(EndUser.tenant_id == tenant_id, EndUser.visitor_id == visitor))


def update_in_place(tenant: TenantSettings, user: UserInfo, data: UserData, proof: Proof | None, origin: str | None,
                    now_dt: datetime, orgs=MISSING) -> UserInfo | None:
    """An existing user's fields, attrs, verification and last_seen in one UPDATE, and `orgs` (their
    new organization list, MISSING when it stays) in a few Core statements after it; or None when
    the row is no longer the one read: then nothing was written, and the caller reads the user again
    and decides again (identify._decide_and_write), or takes the locked path.
    All that is computed before the transaction begins, so the write lock is held only for the
    statements (no ORM unit of work).

    Everything decided here (organizations unchanged, verified or not, the email's proof) comes
    from the unlocked read, so the UPDATE applies only to that very row: the same `version` (every
    write of the user or their memberships moves it on) and, for unsigned data, still unverified.
    Two set-user calls for one user thus always leave the result of one serial order (issue 19).
    When that UPDATE is all there is to write (no organizations, no event, no report-mode note) it
    is sent alone, atomic by itself, without BEGIN and COMMIT (database.writing_alone); on
    PostgreSQL so is the UPDATE with the memberships' writes when no organization changes
    (_with_list_alone).
    """
    changes = {attr: getattr(data, field) for attr, field in FIELDS if getattr(data, field) is not MISSING}
    if data.attrs is not MISSING:
        changes["attrs"] = data.attrs or {}
    email_verified = new_email_verified(user.email, user.email_verified, data, proof)
    if email_verified is not None:
        changes["email_verified"] = email_verified
    if proof is not None:
        changes.update(verified=True, verified_via=proof.via, verified_alg=proof.alg, verified_kid=proof.kid)
    stmt = _update_statement(tuple(changes), signed=proof is not None,
                             legacy=proof is not None and proof.via == legacy_hash.VIA)
    params = {f"new_{key}": value for key, value in changes.items()}
    params.update(row_id=user.id, read_version=user.version, now=now_dt)
    noted = proof is None and tenant.verification_mode == "report"
    quiet = not noted and not events.wanted_any(tenant, _USER_EVENTS)  # no event, no note to write with it
    alone = orgs is MISSING and quiet  # the UPDATE only
    if (orgs is not MISSING and quiet and db.engine.dialect.name == "postgresql"
            and not org_lists.changes_known(user.organizations, orgs, signs(proof))):
        written = _with_list_alone(tenant, user, stmt, params, orgs, proof, changes, now_dt)
        if written is not _UNDECIDED:
            return written
    with writing_alone() if alone else writing():
        connection = db.session.connection()
        # The row held at the version read, and the organizations named locked with it (one
        # statement; none named when the list stays): the list is the user's.
        updated, rows = org_lists.update_and_lock(connection, stmt, params, tenant.id, () if orgs is MISSING else orgs)
        if updated is not None and orgs is not MISSING:
            renamed = []
            orgs = org_lists.replace_list(connection, tenant.id, user.id, user.organizations, orgs, signs(proof), rows,
                                          renamed)
            if isinstance(orgs, OrgData):  # described by signed data since the unlocked read: nothing stays
                unsigned.refuse_signed_org(tenant, data, orgs, origin)
            changes["organizations"] = orgs
            if renamed:  # the other members' user objects show the new name or attrs: the worker tells them
                member_events.note_changed(tenant, renamed, user.id)
        if updated is not None and noted:
            unsigned.log_would_refuse(tenant, data.id, origin, in_transaction=True)
        if updated is not None:  # in this transaction: the event exists exactly when the change does
            written = replace(user, last_seen_at=now_dt, version=user.version + 1, **changes)
            emit_changes(tenant, user, written)
    return written if updated is not None else None


_UNDECIDED = object()  # _with_list_alone: the locked path decides


class _NothingWritten(Exception):
    """_with_list_alone's statement wrote nothing: its transaction ends as a rollback."""


def _with_list_alone(tenant: TenantSettings, user: UserInfo, stmt, params: dict, orgs: tuple[OrgData, ...],
                     proof: Proof | None, changes: dict, now_dt: datetime) -> UserInfo | None | object:
    """PostgreSQL, nothing but the user and their memberships to write: one statement, sent alone
    (org_lists.update_with_list). The user as written, None when the row moved on since the read
    (as update_in_place), or _UNDECIDED when an organization would change, be created or refuse
    the call (nothing written: update_in_place's locked path decides), or one changed or went
    while the statement waited for it (IntegrityError), or the statement was chosen to end a
    deadlock (with a call that locks an organization before its members, as deleting one does):
    each undoes the statement whole."""
    try:
        with writing_alone() as connection:
            decided, updated, written_orgs = org_lists.update_with_list(
                connection, stmt, params, tenant.id, user.organizations, orgs, signs(proof))
            if not decided:
                raise _NothingWritten  # ended as a rollback, not a commit
    except (IntegrityError, _NothingWritten):
        return _UNDECIDED
    except OperationalError as error:
        if isinstance(error.orig, DeadlockDetected):
            return _UNDECIDED
        raise
    if updated is None:
        return None
    return replace(user, last_seen_at=now_dt, version=user.version + 1, organizations=written_orgs, **changes)


def insert_new(tenant: TenantSettings, data: UserData, proof: Proof | None, verified: VerifiedToken | None,
               visitor: str | None, created_via: str, origin: str | None, now: float) -> UserInfo | None:
    """A user the unlocked read did not find, with no seat limit to count against: one Core INSERT
    (and their organizations, replace_list), everything computed before the transaction, the jti
    recorded last. None when a concurrent call inserted the user first (the unique constraint
    broke, nothing stayed): the caller then takes the locked path. The INSERT alone (nothing else
    to write with it) is sent without BEGIN and COMMIT (database.writing_alone)."""
    now_dt = datetime.fromtimestamp(now, timezone.utc)
    row = {attr: getattr(data, field) for attr, field in FIELDS if getattr(data, field) is not MISSING}
    row.update(attrs={} if data.attrs is MISSING else (data.attrs or {}), tenant_id=tenant.id, external_id=data.id,
               created_via=created_via, email_verified=bool(new_email_verified(None, False, data, proof)),
               first_seen_at=now_dt, last_seen_at=now_dt, version=1)
    if proof is not None:
        row.update(verified=True, verified_via=proof.via, verified_alg=proof.alg, verified_kid=proof.kid,
                   verified_at=now_dt)
    alone = (data.organizations is MISSING and visitor is None and (verified is None or verified.jti is None)
             and not (proof is None and tenant.verification_mode == "report")
             and not events.wanted_any(tenant, _USER_EVENTS))  # the INSERT is all there is to write
    try:
        with writing_alone() if alone else writing():
            user_id = db.session.connection().execute(_INSERT_USER, row).scalar_one()
            written = UserInfo(id=user_id, external_id=data.id, anonymous=False, email=row.get("email"),
                               name=row.get("name"), avatar_url=row.get("avatar_url"), attrs=row["attrs"],
                               verified=proof is not None, verified_via=row.get("verified_via"),
                               verified_alg=row.get("verified_alg"), verified_kid=row.get("verified_kid"),
                               last_seen_at=now_dt, email_verified=row["email_verified"], sessions_generation=0,
                               version=1)
            if data.organizations is not MISSING:
                renamed = []
                orgs = org_lists.replace_list(db.session.connection(), tenant.id, user_id, (), data.organizations,
                                              signs(proof), renamed=renamed)
                if isinstance(orgs, OrgData):  # described by signed data since the unlocked check
                    unsigned.refuse_signed_org(tenant, data, orgs, origin)
                written = replace(written, organizations=orgs)
                if renamed:  # the other members' user objects show the new name or attrs: the worker tells them
                    member_events.note_changed(tenant, renamed, user_id)
            if proof is None and tenant.verification_mode == "report":
                unsigned.log_would_refuse(tenant, data.id, origin, in_transaction=True)
            emit_changes(tenant, None, written)
            if visitor is not None:  # a visitor id the client sent: its row, if any, merges
                merge_visitor(tenant.id, visitor, written)
            if verified is not None:
                jtis.record_jti(tenant, verified, now=now, origin=origin,
                                source="login_link" if created_via == "login_link" else "widget")
        return written
    except IntegrityError:
        return None


_INSERT_USER = insert(EndUser.__table__).returning(EndUser.__table__.c.id)


@functools.cache
def _update_statement(columns: tuple[str, ...], signed: bool, legacy: bool = False):
    """`update_in_place`'s UPDATE for these changed columns, built once with bound parameters: a
    statement object reused keeps its SQL cache key, so set-user does not rebuild it on every call."""
    table = EndUser.__table__
    values = {column: bindparam(f"new_{column}", type_=table.c[column].type) for column in columns}
    if signed:
        values["verified_at"] = func.coalesce(table.c.verified_at, bindparam("now", type_=table.c.verified_at.type))
    stmt = update(table).where(table.c.id == bindparam("row_id"), table.c.version == bindparam("read_version"))
    if legacy:  # never over a user signed data verified since the read
        stmt = stmt.where(or_(table.c.verified.is_(False), table.c.verified_via == legacy_hash.VIA))
    elif not signed:
        stmt = stmt.where(table.c.verified.is_(False))
    return stmt.values(last_seen_at=bindparam("now", type_=table.c.last_seen_at.type), version=table.c.version + 1,
                       **values).returning(table.c.id)


def write(tenant: TenantSettings, data: UserData, proof: Proof | None, verified: VerifiedToken | None, visitor: str | None,
          created_via: str, origin: str | None, now: float, new: bool = False) -> UserInfo:
    """Apply the call in one transaction and return the user as written (snapshotted inside the
    transaction, see snapshots.from_row); a concurrent insert of the same user is retried.

    `new`: the unlocked read found no such user, so the first attempt inserts without the locked
    SELECT (which would find nothing). If another call inserted the user since, the INSERT breaks
    the (tenant, external id) unique constraint, the transaction rolls back whole (IntegrityError)
    and the next attempt reads the row under lock, as any write to an existing user does."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            # No autoflush: apply's changes go out in one flush (one UPDATE of the user, its
            # memberships' changes), not a flush before each statement it sends.
            with writing(), db.session.no_autoflush:
                user, _created = apply(tenant, data, proof, created_via, origin, now, known_new=new and attempt == 0)
                if visitor is not None:  # a visitor id the client sent: its row, if any, merges
                    merge_visitor(tenant.id, visitor, user)
                if verified is not None:
                    source = "login_link" if created_via == "login_link" else "widget"
                    jtis.record_jti(tenant, verified, now=now, origin=origin, source=source)
                written = snapshots.from_row(user)
            return written
        except IntegrityError:
            if attempt == WRITE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def apply(tenant: TenantSettings, data: UserData, proof: Proof | None, created_via: str, origin: str | None,
          now: float, known_new: bool = False, seen: bool = True) -> tuple[EndUser, bool]:
    """The call's data written to the user's row, locked (or a new row), every rule checked again
    under the lock: (the user as written, whether the row is new). `seen`: the
    call is the user being seen (set-user), so last_seen moves; the server API writing about a
    user leaves an existing user's last_seen as it was."""
    now_dt = datetime.fromtimestamp(now, timezone.utc)
    user = None if known_new else find_user(tenant.id, data.id, lock=True)  # known_new: see write
    check_may_change(tenant, user, data.id, proof, origin)  # again, under the lock
    if only_identifies(user, proof):  # verified by signed data since the unlocked read
        return user, False
    created = user is None
    before = snapshots.from_row(user) if user is not None else None  # what the events compare with
    if not signs(proof) and user is None and seats.limit(tenant, verified=False) is not None:
        # Before the seat check, as the contract orders them; otherwise organizations.apply alone
        # checks, on the rows it locks (the same rule, and one statement fewer).
        unsigned.check_orgs(tenant, data, [], origin, lock=True)
    if user is None or (proof is not None and not user.verified):  # a new user, or one newly vouched for
        seats.check_locked(tenant, verified=proof is not None)
    if user is None:
        user = EndUser(tenant_id=tenant.id, external_id=data.id, attrs={}, created_via=created_via,
                       email_verified=False, first_seen_at=now_dt, last_seen_at=now_dt,
                       memberships=[])  # known empty: never loaded from the database
        db.session.add(user)
    email_verified = new_email_verified(user.email, user.email_verified, data, proof)
    if email_verified is not None:
        user.email_verified = email_verified
    for attr, field in FIELDS:
        value = getattr(data, field)
        if value is not MISSING and getattr(user, attr) != value:
            setattr(user, attr, value)
    if data.attrs is not MISSING and not same_attrs(user.attrs or {}, data.attrs or {}):
        user.attrs = data.attrs or {}
        flag_modified(user, "attrs")  # the JSON type compares with ==, so true over 1 would not be written
    renamed = []
    if data.organizations is not MISSING:
        refused = organizations.apply(user, data.organizations, signed=signs(proof), changed=renamed)
        if refused is not None:  # described by signed data since the check above (another user's call)
            unsigned.refuse_signed_org(tenant, data, refused, origin)
    if proof is not None:
        user.verified, user.verified_via, user.verified_alg, user.verified_kid = True, proof.via, proof.alg, proof.kid
        user.verified_at = user.verified_at or now_dt
    elif tenant.verification_mode == "report":
        unsigned.log_would_refuse(tenant, data.id, origin, in_transaction=True)
    if seen or user.last_seen_at is None:
        user.last_seen_at = now_dt
    user.version = (user.version or 0) + 1  # under the row lock: any attrs-only UPDATE that read before this misses
    db.session.flush()  # the one flush (see write): the user's row and memberships, in full
    if events.wanted_any(tenant, _USER_EVENTS):  # the snapshot walks the memberships: only for an endpoint
        emit_changes(tenant, before, snapshots.from_row(user))
    if renamed:  # the other members' user objects show the new name or attrs: the worker tells them
        member_events.note_changed(tenant, renamed, user.id)
    return user, created


_USER_EVENTS = ("user.created", "user.updated", "user.verified")


def emit_changes(tenant: TenantSettings, before: UserInfo | None, after: UserInfo) -> None:
    """user.created, user.verified (first proof) and user.updated (its public object changed
    otherwise), added to the write's transaction; nothing when nothing a customer sees changed,
    and none that no enabled webhook endpoint subscribes to (events.wanted: no outbox row)."""
    if before is None:
        if events.wanted(tenant, "user.created"):
            events.emit_user(tenant.id, "user.created", after)
    elif events.wanted(tenant, "user.updated"):
        old, new = to_public(before), to_public(after)
        old.pop("verified"), new.pop("verified")
        if old != new:
            events.emit_user(tenant.id, "user.updated", after)
    if after.verified and (before is None or not before.verified) and events.wanted(tenant, "user.verified"):
        events.emit_user(tenant.id, "user.verified", after)


def merge_visitor(tenant_id: int, visitor: str, user: EndUser | UserInfo) -> None:
    """An anonymous visitor who identifies brings their conversations along."""
    anon = _visitor_row(tenant_id, visitor)
    if anon is None or anon.id == user.id:
        return
    db.session.execute(update(Conversation).where(Conversation.user_id == anon.id).values(user_id=user.id))
    db.session.delete(anon)
