"""The server API's organizations (issue 13): get, list with a cursor, upsert, delete.

An organization written by the server API is signed (API.md §9: the API key vouches for it), so
unsigned data may no longer join, rename or change it. Deleting one removes its memberships and
keeps its users (their `version` moves on, as after any change of their memberships, and each
gets a user.updated event when an endpoint subscribes: their public object lost the organization).
A rename tells every member the same way. The worker writes those events, as the members are
then (webhooks/member_events.py): the request writes a note, not an event per member.
"""
from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import flag_modified

from ...extensions import db
from ...identity.errors import FieldRefused
from ...identity.fields import MISSING, ORG_FIELDS, check_id, describe
from ...identity.orgdata import OrgData, parse_org
from ...identity.unknown_keys import reject_unknown_keys
from ...infra.database import writing
from ...models import EndUser, Organization, OrgMembership, Tenant
from ...models._types import iso_seconds, utcnow
from ...refusals import NotFound
from .. import cursors, events
from ..webhooks import member_events
from .organizations import _org_differs


def _find(tenant_id: int, external_id: str, lock: bool = False) -> Organization | None:
    stmt = select(Organization).where(Organization.tenant_id == tenant_id,
                                      Organization.external_id == check_id(external_id, "id"))
    if lock:  # FOR UPDATE, not NO KEY UPDATE: set-user's one statement (org_lists.update_with_list)
        stmt = stmt.with_for_update()  # locks FOR KEY SHARE, so it waits for this and checks the row again
    return db.session.scalar(stmt)


def get(tenant_id: int, external_id: str) -> dict:
    org = _find(tenant_id, external_id)
    if org is None:
        raise NotFound("not_found", f"This workspace has no organization with id '{external_id[:100]}'.")
    return to_json(org, _member_counts([org.id]).get(org.id, 0))


def listing(tenant_id: int, args) -> dict:
    """Oldest first, keyset on the row id (`cursor`, `limit`)."""
    after, size = cursors.decode(args.get("cursor")), cursors.limit(args.get("limit"))
    stmt = select(Organization).where(Organization.tenant_id == tenant_id)
    if after is not None:
        stmt = stmt.where(Organization.id > after)
    page = cursors.page(list(db.session.scalars(stmt.order_by(Organization.id).limit(size + 1))), size)
    counts = _member_counts([o.id for o in page["data"]])
    return {"data": [to_json(o, counts.get(o.id, 0)) for o in page["data"]], "next": page["next"]}


def _parse(external_id: str, body: object) -> OrgData:
    """The organization by set-user's rules (identity/orgdata.parse_org; attrs MISSING when left
    out); an `id` in the body must be the URL's."""
    org_id = check_id(external_id, "id")
    if not isinstance(body, dict):
        raise FieldRefused("invalid_json", f"The body must be a JSON object; got {describe(body)}")
    reject_unknown_keys(body, ORG_FIELDS, "")
    if "id" in body and check_id(body["id"], "id") != org_id:
        raise FieldRefused("invalid_field", "id: must be the id in the URL (or left out)", "id")
    return parse_org({**body, "id": org_id}, "", strict=True)


def upsert(tenant_id: int, external_id: str, body: object) -> tuple[dict, bool]:
    """Create or update (name, attrs: left out keeps them); (its JSON, created). Signed from now on."""
    data = _parse(external_id, body)
    for attempt in (1, 2):
        try:
            return _write(tenant_id, data)
        except IntegrityError:  # created at once by another request (or a set-user): update it now
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _write(tenant_id: int, data: OrgData) -> tuple[dict, bool]:
    with writing():
        org = _find(tenant_id, data.id, lock=True)
        created = org is None
        if created:
            org = Organization(tenant_id=tenant_id, external_id=data.id, name=data.name, attrs={}, signed=True,
                               created_at=utcnow(), updated_at=utcnow())
            db.session.add(org)
        # Set-user's own test of a change (organizations._org_differs): its members' user objects
        # show its name and attrs, so they change exactly when these do.
        seen_changed = not created and _org_differs(org, data)
        if seen_changed or not org.signed:
            org.updated_at = utcnow()
        if data.attrs is not MISSING:
            org.attrs = data.attrs
            flag_modified(org, "attrs")  # JSON compares with ==: true over 1 must still be written
        org.name, org.signed = data.name, True
        db.session.flush()
        if seen_changed:  # every member (none wrote it), told by the worker (webhooks/member_events.py)
            member_events.note_changed(db.session.get(Tenant, tenant_id), [org.id], writer_id=0)
        answer = to_json(org, _member_counts([org.id]).get(org.id, 0))
    return answer, created


def remove(tenant_id: int, external_id: str) -> dict:
    """Delete the organization and its memberships; its users stay. {"memberships": n}."""
    with writing():
        org = _find(tenant_id, external_id, lock=True)
        if org is None:
            raise NotFound("not_found", f"This workspace has no organization with id '{external_id[:100]}'.")
        tenant = db.session.get(Tenant, tenant_id)
        members = select(OrgMembership.user_id).where(OrgMembership.organization_id == org.id)
        # Their ids for the worker's notes (webhooks/member_events.py), only when someone is told.
        listed = list(db.session.scalars(members)) if events.wanted(tenant, "user.updated") else []
        # One statement whatever the count (a parameter per member broke past 65 535 on PostgreSQL).
        db.session.execute(update(EndUser).where(EndUser.id.in_(members)).values(version=EndUser.version + 1),
                           execution_options={"synchronize_session": False})
        removed = db.session.execute(delete(OrgMembership).where(OrgMembership.organization_id == org.id)).rowcount
        db.session.execute(delete(Organization).where(Organization.id == org.id))
        member_events.note_members(tenant, listed)
    return {"deleted": {"organizations": 1, "memberships": removed}}


def _member_counts(org_ids: list[int]) -> dict[int, int]:
    if not org_ids:
        return {}
    rows = db.session.execute(select(OrgMembership.organization_id, func.count()).where(
        OrgMembership.organization_id.in_(org_ids)).group_by(OrgMembership.organization_id))
    return dict(rows.all())


def to_json(org: Organization, members: int) -> dict:
    """The widget API's organization object (§3) plus timestamps and its member count."""
    return {"id": org.external_id, "name": org.name, "attrs": org.attrs or {}, "memberCount": members,
            "createdAt": iso_seconds(org.created_at), "updatedAt": iso_seconds(org.updated_at)}


