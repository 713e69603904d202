"""user.updated for the members of an organization that changed under them, told by the worker.

A set-user call (or the server API's user upsert) that renames an organization, or gives it new
attrs, changes the user object of each of its members. Telling them all inside the call would
make the call's cost grow with the organization, and unsigned data may rename an organization
that no signed data described: a client could make each of its requests write as many events as
the organization has members. So the call adds one internal event per organization it changed
(`signet.organization_changed`; ten at most, the list's limit) in its own transaction, only when
an enabled endpoint subscribes to user.updated, and the worker turns each into the members'
user.updated events, CHUNK members per transaction, each member as they are then (`after` in the
internal event's data records how far it got). The call's own user.updated is the call's, as
before.

The server API's organization endpoints do the same: a rename (PUT) leaves one such note, for
every member; a delete, whose memberships are gone when the worker looks, leaves its former
members' ids (`signet.members_changed`, CHUNK ids a note). Told in the request, a rename of an
organization of 20 000 members took 2.9 s (SQLite, in process), growing with the organization.
"""
from __future__ import annotations

import json

from sqlalchemy import select

from ...extensions import db
from ...infra.database import is_sqlite
from ...models import OrgMembership, OutboxEvent, Tenant
from ...models._types import utcnow
from .. import events
from ..end_users import organizations

CHUNK = 500  # members told per worker transaction


def note_changed(tenant, org_ids: list[int], writer_id: int) -> None:
    """In the writing transaction: the organizations `org_ids` were renamed or given new attrs by
    a call for the user `writer_id` (0: by the server API's organization endpoint); their other
    members will hear of it from the worker."""
    if not events.wanted(tenant, "user.updated"):
        return
    for org_id in sorted(set(org_ids)):
        events.emit(tenant.id, events.ORG_CHANGED_TYPE, {"organization": org_id, "except": writer_id, "after": 0})


def note_members(tenant, user_ids: list[int]) -> None:
    """In the writing transaction: these users' objects changed (their organization was deleted);
    the worker tells them, as they are then. CHUNK ids a note, so the worker takes one at a time."""
    if not events.wanted(tenant, "user.updated"):
        return
    user_ids = sorted(user_ids)
    for start in range(0, len(user_ids), CHUNK):
        events.emit(tenant.id, events.MEMBERS_CHANGED_TYPE, {"users": user_ids[start:start + CHUNK]})


def tell(limit: int = CHUNK) -> int:
    """Inside the worker's write transaction: up to `limit` members' user.updated events, for the
    oldest notes not yet told; how many were told (0: nothing left to do)."""
    stmt = (select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None), OutboxEvent.type.in_(events.MEMBER_NOTES))
            .order_by(OutboxEvent.id).limit(10))
    if not is_sqlite():
        stmt = stmt.with_for_update(skip_locked=True)
    told = 0
    for note in db.session.scalars(stmt).all():
        room = limit - told
        if room <= 0:
            break
        data = json.loads(note.payload)["data"]
        listed = note.type == events.MEMBERS_CHANGED_TYPE
        if listed:  # the ids it lists; what is left stays listed for the next transaction
            members, data["users"] = data["users"][:room], data["users"][room:]
            more = bool(data["users"])
        else:  # the organization's members now, after the last one told
            members = list(db.session.scalars(
                select(OrgMembership.user_id)
                .where(OrgMembership.organization_id == data["organization"], OrgMembership.tenant_id == note.tenant_id,
                       OrgMembership.user_id != data["except"], OrgMembership.user_id > data["after"])
                .order_by(OrgMembership.user_id).limit(room)))
            more = len(members) == room
            data["after"] = members[-1] if members else data["after"]
        if members:  # a listed id: only the user it meant (tell_members' known_by)
            organizations.tell_members(db.session.get(Tenant, note.tenant_id), members,
                                       known_by=note.created_at if listed else None)
            told += len(members)
        if not more:  # every member told: this note is done
            note.dispatched_at = utcnow()
        else:
            note.payload = json.dumps({**json.loads(note.payload), "data": data}, separators=(",", ":"))
    return told
