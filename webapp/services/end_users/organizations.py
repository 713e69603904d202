"""Organizations of end users: upserted from user data, memberships replaced as a whole.

What unsigned data may touch (API.md §9): an organization that signed data (a token or a login
link) has described is `signed` from then on, and unsigned data may not join it, rename it or
change its attrs (`refused_for_unsigned`); it may still create and edit organizations nothing
signed has described. Each membership records whether signed data made it, and only signed
memberships widen a `ctx` scope (conversations.user_dashboard).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import flag_modified

from ...extensions import db
from ...identity.fields import same_attrs
from ...identity.userdata import MISSING, OrgData
from ...models import EndUser, Organization, OrgMembership
from ...models._types import UTCDateTime, utcnow
from .. import events
from . import snapshots


def current_ids(user: EndUser) -> list[str]:
    return [m.organization.external_id for m in user.memberships]


def would_change(current: tuple, orgs: tuple[OrgData, ...], signed: bool = False) -> bool:
    """Whether applying `orgs` would change the list or a named organization (read only).

    `current`: the user's organizations as snapshots (OrgInfo). Signed data also changes an
    organization or a membership that is not yet marked signed.
    """
    if [o.external_id for o in current] != [o.id for o in orgs]:
        return True
    if signed and not all(o.signed and o.member_signed for o in current):
        return True
    stored = {o.external_id: o for o in current}
    return any(_org_differs(stored[o.id], o) for o in orgs)


def refused_for_unsigned(tenant_id: int, current: list | tuple, orgs: tuple[OrgData, ...],
                         lock: bool = False) -> OrgData | None:
    """The first organization in `orgs` that unsigned data may not send, or None.

    Refused: a signed organization the user is not a member of yet (joining it), or one whose
    name or attrs would change. Keeping a membership as it is, leaving, and anything about
    organizations no signed data described stay allowed. `current`: the user's organizations
    (rows or snapshots with external_id, name, attrs). `lock` holds the signed rows until the
    transaction ends, so a concurrent signed call cannot slip in between check and write.
    """
    if not orgs:
        return None
    if not lock:  # a plain read on the read connection, outside any transaction
        signed = {org.external_id: org for org in snapshots.signed_organizations(tenant_id, [o.id for o in orgs])}
        return _first_refused(signed, {o.external_id for o in current}, orgs)
    stmt = (select(Organization).where(Organization.tenant_id == tenant_id, Organization.signed.is_(True),
                                       Organization.external_id.in_([o.id for o in orgs]))
            .order_by(Organization.id))
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    signed = {org.external_id: org for org in db.session.scalars(stmt)}
    return _first_refused(signed, {o.external_id for o in current}, orgs)


def _first_refused(rows: dict, member_of: set[str], orgs: tuple[OrgData, ...]) -> OrgData | None:
    """The first of `orgs` whose row is signed and that the user would join, rename or change."""
    for data in orgs:
        org = rows.get(data.id)
        if org is not None and org.signed and (data.id not in member_of or _org_differs(org, data)):
            return data
    return None


def _org_differs(org, data: OrgData) -> bool:
    return org.name != data.name or (data.attrs is not MISSING and not same_attrs(org.attrs or {}, data.attrs))


def apply(user: EndUser, orgs: tuple[OrgData, ...], signed: bool = False,
          changed: list[int] | None = None) -> OrgData | None:
    """Make `orgs` the user's complete list, creating and updating organizations as named.

    `signed`: the data came signed, so the organizations and memberships it names are marked
    signed. Unsigned data must have passed `refused_for_unsigned`; the rule is checked once more
    here on the rows now locked, since a signed call for another user may have described one of
    these organizations in between (its first description creates no lock the check could hold).
    Returns the organization refused that way, having written nothing, else None.
    The caller holds the user's row lock, so concurrent calls for one user never interleave.
    `changed`: the row ids of the organizations renamed or given new attrs are added to it.
    """
    rows = _locked_rows(user.tenant_id, orgs, signed)
    if not signed:
        refused = _first_refused(rows, set(current_ids(user)), orgs)
        if refused is not None:
            return refused
    renamed = _update(rows, orgs, signed)
    if changed is not None:
        changed.extend(renamed)
    unsigned_left = signed and any(not m.signed for m in user.memberships)
    if current_ids(user) != [o.id for o in orgs] or unsigned_left:
        # The new list in place of the old one, in memory: a membership kept keeps its row (an
        # UPDATE only if its position or signed changes), one left is deleted (delete-orphan), one
        # joined is inserted, all in the transaction's one flush; the list stays loaded for the answer.
        kept = {m.organization.external_id: m for m in user.memberships}
        memberships = []
        for i, o in enumerate(orgs):
            membership = kept.get(o.id) or OrgMembership(organization=rows[o.id], tenant_id=user.tenant_id)
            membership.position, membership.signed = i, signed
            memberships.append(membership)
        user.memberships = memberships
    return None


_BY_IDS = (select(Organization)
           .where(Organization.tenant_id == bindparam("tenant_id"),
                  Organization.external_id.in_(bindparam("ids", expanding=True)))
           .order_by(Organization.id).with_for_update().execution_options(populate_existing=True))


def _locked_rows(tenant_id: int, orgs: tuple[OrgData, ...], signed: bool) -> dict[str, Organization]:
    """The named organizations' rows, created when missing, locked until the transaction ends.

    One statement when they all exist (the usual case): the rows are read and locked first, and
    only the missing ones are inserted (sorted by id, so two writers inserting the same ones
    queue instead of deadlocking) and then read.
    """
    if not orgs:
        return {}
    rows = {org.external_id: org for org in db.session.scalars(_BY_IDS, {"tenant_id": tenant_id,
                                                                          "ids": [o.id for o in orgs]})}
    missing = sorted((o for o in orgs if o.id not in rows), key=lambda o: o.id)
    if not missing:
        return rows
    _insert_missing(db.session, tenant_id, missing, signed)
    rows.update((org.external_id, org) for org in db.session.scalars(
        _BY_IDS, {"tenant_id": tenant_id, "ids": [o.id for o in missing]}))
    return rows


def _update(rows: dict[str, Organization], orgs: tuple[OrgData, ...], signed: bool) -> list[int]:
    """The named rows as the data describes them; the ids of those whose name or attrs changed
    (a row inserted by this call has no attrs to change and no other member)."""
    changed = []
    for data in orgs:
        org = rows[data.id]
        if signed and not org.signed:
            org.signed = True
            org.updated_at = utcnow()
        if _org_differs(org, data):
            org.name = data.name
            if data.attrs is not MISSING:
                org.attrs = data.attrs
                flag_modified(org, "attrs")  # the JSON type compares with ==: true over 1 must still be written
            org.updated_at = utcnow()
            changed.append(org.id)
    return changed


def tell_members(tenant, user_ids: list[int], known_by: datetime | None = None) -> None:
    """user.updated for each of these users of `tenant`, as they are now in the worker's writing
    transaction: an organization of theirs was renamed, given new attrs or deleted, and their
    user object shows it (webhooks/member_events.py). Nothing, and no query, when no enabled
    endpoint subscribes to user.updated (events.wanted).

    On PostgreSQL the users are read FOR KEY SHARE: an erasure (FOR UPDATE) that began first is
    waited for, and the user it deleted is skipped; one that begins after waits for this
    transaction, and then deletes the event written here with the person's other events. Never
    an event about someone erased. (SQLite: BEGIN IMMEDIATE runs the two one after the other.)
    `known_by` (SQLite, one host, one clock): only users first seen by then. SQLite gives a deleted
    row's id to the next user, so a user created since a note listed an id is not the one it
    meant; PostgreSQL's ids are never given again (and its hosts' clocks may differ)."""
    if not events.wanted(tenant, "user.updated"):
        return
    stmt = (select(EndUser).where(EndUser.tenant_id == tenant.id, EndUser.id.in_(user_ids)).order_by(EndUser.id)
            .options(selectinload(EndUser.memberships).selectinload(OrgMembership.organization))
            .execution_options(populate_existing=True))
    if known_by is not None and db.engine.dialect.name == "sqlite":
        stmt = stmt.where(EndUser.first_seen_at <= known_by)
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=True, key_share=True, of=EndUser)
    for user in db.session.scalars(stmt):
        events.emit_user(tenant.id, "user.updated", user)


def _insert_missing(executor, tenant_id: int, missing: list[OrgData], signed: bool) -> None:
    """The missing organizations, in external id order (concurrent inserters queue, no deadlock);
    one a concurrent call inserted first is left as it is (the caller reads it, locked, after).
    One statement of constant SQL (executemany): compiled once, not per call and count."""
    now = utcnow()
    executor.execute(_INSERT_ORG, [
        {"tenant_id": tenant_id, "external_id": o.id, "name": o.name, "attrs": {} if o.attrs is MISSING else o.attrs,
         "signed": signed, "now": now} for o in missing])


_INSERT_ORG = text(
    "INSERT INTO organization (tenant_id, external_id, name, attrs, signed, created_at, updated_at)"
    " VALUES (:tenant_id, :external_id, :name, :attrs, :signed, :now, :now)"
    " ON CONFLICT (tenant_id, external_id) DO NOTHING"
).bindparams(bindparam("attrs", type_=Organization.__table__.c.attrs.type), bindparam("now", type_=UTCDateTime()))


def to_public(org) -> dict:
    """The contract's organization object, from a row or a snapshot (external_id, name, attrs)."""
    return {"id": org.external_id, "name": org.name, "attrs": org.attrs or {}}
