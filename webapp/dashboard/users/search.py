"""Prefix search and filters for the Users and Organizations lists, written so an index serves them.

A prefix match is a range: `lower(email) >= 'jan' AND lower(email) < 'jao'`. Both SQLite and
PostgreSQL read such a range from the (tenant_id, lower(email)) expression index, where LIKE would
need a special operator class on PostgreSQL and case-sensitive LIKE on SQLite. Ranges compare
code points, which is the order of SQLite's BINARY collation and of a PostgreSQL database in the
C / C.UTF-8 collation (see docs/ARCHITECTURE.md for other collations).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true, union, union_all

from ...infra.database import is_sqlite
from ...extensions import db
from ...models import EndUser, Organization

MAX_QUERY = 255
NARROW = 2000  # this many matches or fewer: read their ids from the indexes, then sort them
USER_FILTERS = {
    "verified": "Verified",
    "unverified": "Not verified",
    "login_link": "Came through a login link",
    "anonymous": "Anonymous visitors",
}
_LAST_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def clean_query(raw: str | None) -> str:
    """The search text as typed, trimmed; NUL (which no stored value holds) is dropped."""
    return (raw or "").replace("\x00", "").strip()[:MAX_QUERY]


def successor(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with `prefix` (None: no bound)."""
    chars = list(prefix)
    while chars and ord(chars[-1]) == _LAST_CODE_POINT:
        chars.pop()
    if not chars:
        return None
    nxt = ord(chars[-1]) + 1
    chars[-1] = chr(0xE000 if nxt in _SURROGATES else nxt)
    return "".join(chars)


def starts_with(expr, prefix: str) -> ColumnElement[bool]:
    upper = successor(prefix)
    return expr >= prefix if upper is None else and_(expr >= prefix, expr < upper)


def db_lower(text: str) -> str:
    """`text` lower-cased the way the database's lower() does, so both sides of a range agree.

    SQLite's built-in lower() folds ASCII letters only; PostgreSQL's folds every letter.
    """
    if is_sqlite():
        return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    return text.lower()


def _count_upto(ids: Select, cap: int) -> int:
    return db.session.scalar(select(func.count()).select_from(ids.limit(cap + 1).subquery()))


def narrowed(scope: Select, indexed: ColumnElement[bool], exact: ColumnElement[bool]) -> ColumnElement[bool]:
    """`exact`, or, when the rows it selects are few, the same rows named by id.

    `indexed` is a condition an index answers without reading rows and that holds for every row
    `exact` selects. When it matches at most NARROW rows, their ids come from that index and the
    list is sorted from them; a planner left to itself walks the last-seen index and tests every
    row, a full scan when the matches are few.
    """
    ids = scope.with_only_columns(EndUser.id).where(indexed)
    return and_(EndUser.id.in_(ids), exact) if _count_upto(ids, NARROW) <= NARROW else exact


@dataclass(frozen=True)
class Match:
    """Users whose external id (case-sensitive), email or name (case-insensitive) start with q."""

    exact: ColumnElement[bool]  # the test for one row
    ids: Select  # the matching ids, united from the three indexes (no row read)
    many: bool  # possibly more than NARROW matches


def user_search(scope: Select, q: str) -> Match:
    low = db_lower(q)
    ranges = [
        starts_with(EndUser.external_id, q),
        starts_with(func.lower(EndUser.email), low),
        starts_with(func.lower(EndUser.name), low),
    ]
    branches = [scope.with_only_columns(EndUser.id).where(r) for r in ranges]
    # Counted with UNION ALL, which streams and stops at the cap (a UNION must first read every
    # match to drop duplicates): at most NARROW entries with duplicates means at most NARROW users.
    many = _count_upto(union_all(*branches), NARROW) > NARROW
    return Match(exact=or_(*ranges), ids=union(*branches), many=many)


def user_filter(scope: Select, name: str | None) -> ColumnElement[bool]:
    if name == "verified":
        return EndUser.verified.is_(True)
    if name == "unverified":
        return and_(EndUser.verified.is_(False), EndUser.anonymous.is_(False))
    if name == "login_link":
        return or_(EndUser.created_via == "login_link", EndUser.verified_via == "login_link")
    if name == "anonymous":
        # Every visitor row carries a visitor_id (the identity check constraint), so the
        # (tenant_id, visitor_id) index finds them without reading rows; `anonymous` is checked too.
        return narrowed(scope, EndUser.visitor_id.is_not(None), EndUser.anonymous.is_(True))
    return true()


def organization_matches(q: str) -> ColumnElement[bool]:
    return starts_with(func.lower(Organization.name), db_lower(q))
