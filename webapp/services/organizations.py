"""Organizations of end users: upserted from user data, memberships replaced as a whole."""
from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm.attributes import flag_modified

from ..extensions import db
from ..identity.fields import same_attrs
from ..identity.userdata import MISSING, OrgData
from ..models import EndUser, Organization, OrgMembership
from ..models._types import utcnow


def current_ids(user: EndUser) -> list[str]:
    return [m.organization.external_id for m in user.memberships]


def would_change(current: tuple, orgs: tuple[OrgData, ...]) -> bool:
    """Whether applying `orgs` would change the list or a named organization (read only).

    `current`: the user's organizations as snapshots (anything with external_id, name, attrs).
    """
    if [o.external_id for o in current] != [o.id for o in orgs]:
        return True
    stored = {o.external_id: o for o in current}
    return any(_org_differs(stored[o.id], o) for o in orgs)


def _org_differs(org, data: OrgData) -> bool:
    return org.name != data.name or (data.attrs is not MISSING and not same_attrs(org.attrs or {}, data.attrs))


def apply(user: EndUser, orgs: tuple[OrgData, ...]) -> None:
    """Make `orgs` the user's complete list, creating and updating organizations as named.

    The caller holds the user's row lock, so concurrent calls for one user never interleave.
    """
    rows = _upsert(user.tenant_id, orgs)
    if current_ids(user) != [o.id for o in orgs]:
        db.session.execute(delete(OrgMembership).where(OrgMembership.user_id == user.id))
        db.session.add_all(
            OrgMembership(user_id=user.id, organization_id=rows[o.id].id, tenant_id=user.tenant_id, position=i)
            for i, o in enumerate(orgs)
        )
        db.session.expire(user, ["memberships"])


def _upsert(tenant_id: int, orgs: tuple[OrgData, ...]) -> dict[str, Organization]:
    if not orgs:
        return {}
    ids = [o.id for o in orgs]
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Organization).values([
        {"tenant_id": tenant_id, "external_id": o.id, "name": o.name,
         "attrs": {} if o.attrs is MISSING else o.attrs, "created_at": utcnow(), "updated_at": utcnow()}
        for o in orgs
    ]).on_conflict_do_nothing(index_elements=[Organization.tenant_id, Organization.external_id])
    db.session.execute(stmt)
    rows = {
        org.external_id: org
        for org in db.session.scalars(
            select(Organization).where(Organization.tenant_id == tenant_id, Organization.external_id.in_(ids))
            .execution_options(populate_existing=True)
        )
    }
    for data in orgs:
        org = rows[data.id]
        if _org_differs(org, data):
            org.name = data.name
            if data.attrs is not MISSING:
                org.attrs = data.attrs
                flag_modified(org, "attrs")  # the JSON type compares with ==: true over 1 must still be written
            org.updated_at = utcnow()
    return rows


def to_public(org) -> dict:
    """The contract's organization object, from a row or a snapshot (external_id, name, attrs)."""
    return {"id": org.external_id, "name": org.name, "attrs": org.attrs or {}}
