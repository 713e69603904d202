"""Read-side queries behind the Users and Organizations pages, every one built on access.scoped().

Users are listed most recently seen first, (last_seen_at DESC, id DESC): the order of the
(tenant_id, last_seen_at) index, whose entries end with the row id on SQLite; organizations by
(lower(name), id), the order of the (tenant_id, lower(name)) index.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

from flask import abort
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from ...extensions import db
from ...models import EndUser, Organization, OrgMembership
from .. import paging
from . import search
from ..access import scoped

USER_ORDER = paging.Order((EndUser.last_seen_at, EndUser.id), True, lambda u: (u.last_seen_at, u.id), (datetime, int))
ORG_NAME = func.lower(Organization.name)
ORG_ORDER = paging.Order((ORG_NAME, Organization.id), False, lambda row: (row[1], row[0].id), (str, int))
MEMBER_ORDER = paging.Order((EndUser.id,), False, lambda u: (u.id,), (int,))
EXPORT_BATCH = 1000


@dataclass(frozen=True)
class UserQuery:
    """What the Users page and its CSV export were asked for: `?q=` and `?filter=`."""

    q: str = ""
    filter: str = ""

    @classmethod
    def from_args(cls, args) -> UserQuery:
        name = args.get("filter", "")
        if name and name not in search.USER_FILTERS:
            abort(400, f"Unknown filter: choose one of {', '.join(search.USER_FILTERS)}.")
        return cls(q=search.clean_query(args.get("q")), filter=name)

    def args(self) -> dict:
        return {k: v for k, v in (("q", self.q), ("filter", self.filter)) if v}

    def listing(self) -> tuple[Select, paging.Window | None]:
        """The matching users, and for a search with many matches a cheap first attempt.

        A search's ids come from the three prefix indexes united: sorting a few of them is
        cheap. With many matches (more than search.NARROW) the newest users are likely to
        include a page of them, so the first WINDOW entries of the last-seen index are tried
        first; only when they hold too few matches are all the matching ids sorted.
        """
        scope = scoped(EndUser)
        rows = scope.where(search.user_filter(scope, self.filter)) if self.filter else scope
        if not self.q:
            return rows, None
        match = search.user_search(scope, self.q)
        window = paging.Window(scope, rows.where(match.exact)) if match.many else None
        return rows.where(EndUser.id.in_(match.ids)), window


def users_page(query: UserQuery, where: paging.Position) -> paging.Page:
    stmt, window = query.listing()
    return paging.fetch(stmt, USER_ORDER, where, EndUser.id, window=window, rows=scoped(EndUser))


EXPORT_COLUMNS = (EndUser.id, EndUser.external_id, EndUser.anonymous, EndUser.email, EndUser.name, EndUser.verified,
                  EndUser.verified_via, EndUser.verified_alg, EndUser.verified_kid, EndUser.created_via,
                  EndUser.first_seen_at, EndUser.last_seen_at, EndUser.attrs)


def export_rows(query: UserQuery) -> Iterator[tuple]:
    """Every matching user as (row, [(organization name, id), …]), read in keyset batches of plain
    rows (no ORM objects): memory stays flat and no batch scans past its own rows."""
    stmt, window = query.listing()
    rows = scoped(EndUser).with_only_columns(*EXPORT_COLUMNS)
    after: tuple | None = None
    while True:
        page = paging.fetch(stmt, USER_ORDER, paging.Position(after=after) if after else paging.Position(),
                            EndUser.id, size=EXPORT_BATCH, window=window, rows=rows, scalars=False)
        orgs = organizations_of([r.id for r in page.items])
        for row in page.items:
            yield row, orgs.get(row.id, [])
        if page.next_cursor is None:
            return
        after = USER_ORDER.key(page.items[-1])


def organizations_of(user_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    if not user_ids:
        return out
    rows = db.session.execute(
        select(OrgMembership.user_id, Organization.name, Organization.external_id)
        .join(Organization, Organization.id == OrgMembership.organization_id)
        .where(OrgMembership.user_id.in_(user_ids)).order_by(OrgMembership.user_id, OrgMembership.position))
    for user_id, name, external_id in rows:
        out.setdefault(user_id, []).append((name, external_id))
    return out


def user_or_404(user_id: int) -> EndUser:
    return db.first_or_404(scoped(EndUser).where(EndUser.id == user_id).options(selectinload(EndUser.memberships)))


@dataclass
class OrgRow:
    org: Organization
    members: int


def organizations_page(q: str, where: paging.Position) -> paging.Page:
    stmt = scoped(Organization).add_columns(ORG_NAME)
    if q:
        stmt = stmt.where(search.organization_matches(q))
    page = paging.fetch(stmt, ORG_ORDER, where, Organization.id, scalars=False)
    counts = member_counts([row[0].id for row in page.items])
    page.items = [OrgRow(row[0], counts.get(row[0].id, 0)) for row in page.items]
    return page


def member_counts(org_ids: list[int]) -> dict[int, int]:
    if not org_ids:
        return {}
    rows = db.session.execute(select(OrgMembership.organization_id, func.count())
                              .where(OrgMembership.organization_id.in_(org_ids))
                              .group_by(OrgMembership.organization_id))
    return {org_id: count for org_id, count in rows}


def organization_or_404(org_id: int) -> Organization:
    return db.first_or_404(scoped(Organization).where(Organization.id == org_id))


def members_page(org: Organization, where: paging.Position) -> paging.Page:
    stmt = (scoped(EndUser).join(OrgMembership, OrgMembership.user_id == EndUser.id)
            .where(OrgMembership.organization_id == org.id))
    return paging.fetch(stmt, MEMBER_ORDER, where, EndUser.id)
