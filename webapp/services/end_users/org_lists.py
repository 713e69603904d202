"""A user's complete organization list written by Core statements, for set-user's fast paths
(user_writes.update_in_place and insert_new): the organizations the list names are read locked,
the missing ones inserted, and then only what changes is written.

Every statement here is built once and keeps its SQL cache key, so SQLAlchemy never compiles one
per call (a dialect `insert().on_conflict_…()` has no cache key: it was compiled on every call).
The fast path's statements are sent in the driver's own style (`_on_driver`). On SQLite they run
while this process holds the writers' turn (infra/write_turns.py), when SQLAlchemy's
per-statement work was a third of the time it was held; on PostgreSQL that work was a tenth of
an organization-changing call's CPU.
On PostgreSQL the round trips are few. A call that changes no organization itself (the usual
one: the user joins, leaves or reorders organizations as they stand) is ONE statement sent alone,
its own transaction (`update_with_list`). Otherwise the user's UPDATE at the version read and the
locked read of the named organizations are one statement (`update_and_lock`), and the writes after
it (the organizations renamed, the memberships left, joined or moved) one more, with
data-modifying CTEs.
On SQLite the UPDATE returns the named organizations (BEGIN IMMEDIATE holds the whole database,
so no row lock is needed), and the writes, having no such CTEs, stay separate statements, each
sent only when needed.
"""
from __future__ import annotations

import functools
import json
from typing import NamedTuple

from psycopg.rows import namedtuple_row
from sqlalchemy import Connection, String, any_, bindparam, delete, func, select, text, true, update
from sqlalchemy.dialects.postgresql import ARRAY

from ...identity.userdata import MISSING, OrgData
from ...models import Organization, OrgMembership
from ...models._types import UTCDateTime, utcnow
from .organizations import _first_refused, _insert_missing, _org_differs
from .snapshots import OrgInfo

_TABLE = Organization.__table__
_MEMBERS = OrgMembership.__table__


def _on_driver(connection: Connection, stmt, params: dict | list[dict]) -> list:
    """The rows of `stmt` run with `params` (a list: once per item, no rows), sent as the driver's
    own SQL and values, without SQLAlchemy's execution context and result objects: measured on
    PostgreSQL, they were 120 of the 1 370 µs of CPU an organization-changing call cost (two
    statements). Compiled once; each value goes through the bind processor SQLAlchemy itself
    applies (the JSON text, SQLite's stored datetime format, UTCDateTime), so what is sent is what
    `connection.execute` sends (compared over every statement this module and user_writes build).

    SQLite: qmark SQL through `exec_driver_sql`. PostgreSQL: psycopg's own cursor on the
    connection's driver connection, in its transaction, run by SQLAlchemy's `_cursor_execute`
    (its path for a dialect's own statements): the cursor events fire (with no execution
    context, which their documented signature allows; Flask-SQLAlchemy's
    SQLALCHEMY_RECORD_QUERIES, off here, would need one), the engine's echo logs it, and an error
    is raised as from any statement (IntegrityError, OperationalError…; on a dropped connection
    the pool's older connections are invalidated with it, so the next checkouts reconnect).
    A list of more than one item goes through `connection.execute` (executemany).
    Not for statements with an expanding IN list or escaped parameter names (`_driver_form`
    refuses them), nor a parameter named like a column of an UPDATE (compiled without the
    parameters' names, such a one is not SET)."""
    if isinstance(params, list) and len(params) > 1:
        connection.execute(stmt, params)
        return []
    params = params[0] if isinstance(params, list) else params
    compiled, sql, names, processors = _driver_form(stmt, connection.dialect)
    values = compiled.construct_params(params)
    processed = (values[name] if process is None else process(values[name]) for name, process in zip(names, processors))
    if connection.dialect.name != "postgresql":
        return connection.exec_driver_sql(sql, tuple(processed)).all()
    return _on_psycopg(connection, sql, dict(zip(names, processed)))


def _on_psycopg(connection: Connection, sql: str, values: dict) -> list:
    """`sql` (psycopg's own %(name)s style) run with `values` on psycopg's own cursor, in the
    connection's transaction, through SQLAlchemy's `_cursor_execute` (see `_on_driver`)."""
    with connection.connection.driver_connection.cursor(row_factory=namedtuple_row) as cursor:
        connection._cursor_execute(cursor, sql, values)
        return cursor.fetchall() if cursor.description is not None else []


@functools.lru_cache(maxsize=256)  # a few dozen statements; an engine's dialect each (tests make many)
def _driver_form(stmt, dialect) -> tuple:
    """(the compiled statement, its SQL, its parameters' names in order, their bind processors)."""
    return _compiled_form(stmt, dialect)


def _compiled_form(stmt, dialect) -> tuple:
    compiled = stmt.compile(dialect=dialect)
    if compiled.escaped_bind_names or compiled.literal_execute_params or compiled.post_compile_params:
        raise ValueError("_on_driver sends plain parameters only (no expanding IN, no escaped names)")
    names = tuple(compiled.positiontup) if compiled.positional else tuple(compiled.bind_names.values())
    # The type as adapted to this dialect (SQLite's DATETIME format, not the generic DateTime's).
    processors = tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)
    return compiled, str(compiled), names, processors


def update_and_lock(connection: Connection, user_update, params: dict, tenant_id: int,
                    orgs: tuple[OrgData, ...]) -> tuple[int | None, dict]:
    """Run `user_update` (an UPDATE … RETURNING id of the user's row, `params` its parameters) and
    then read and lock the organizations `orgs` names: (the id it returned or None, {external id:
    row}). The user's row is locked first, as on every path. One statement on both databases:
    on PostgreSQL the named rows come from a LATERAL subquery (FOR UPDATE) joined to the UPDATE's
    CTE, so they are read, and locked, only after and only if the UPDATE took the row; on SQLite,
    which BEGIN IMMEDIATE holds whole, the UPDATE returns them as a JSON array (one statement
    fewer while the write lock is held). No organizations named: the UPDATE alone."""
    ids = [o.id for o in orgs]
    postgres = connection.dialect.name == "postgresql"
    if not ids:
        rows = _on_driver(connection, user_update, params)
        return rows[0][0] if rows else None, {}
    rows = _on_driver(connection, _update_then_lock(user_update, postgres),
                      {**params, "org_tenant": tenant_id, "org_ids": _id_list(postgres, ids)})
    if not rows:
        return None, {}
    if postgres:
        return rows[0].user_row, {r.external_id: r for r in rows if r.id is not None}
    user_row, named = rows[0]
    return user_row, {external_id: _Org(org_id, external_id, name, json.loads(attrs), bool(signed))
                      for org_id, external_id, name, attrs, signed in json.loads(named)}


def changes_known(current: tuple, orgs: tuple[OrgData, ...], signed: bool) -> bool:
    """Whether the read already shows that `orgs` changes an organization the user is in (renames
    it, gives it new attrs, or signs it): then update_with_list would write nothing, and the
    locked path is taken at once."""
    known = {o.external_id: o for o in current}
    for data in orgs:
        member = known.get(data.id)
        if member is not None and (_org_differs(member, data) or (signed and not member.signed)):
            return True
    return False


def update_with_list(connection: Connection, user_update, params: dict, tenant_id: int, current: tuple,
                     orgs: tuple[OrgData, ...], signed: bool) -> tuple[bool, int | None, tuple[OrgInfo, ...]]:
    """PostgreSQL, a write sent alone (database.writing_alone: no event, note or jti goes with it):
    the user's UPDATE at the version read and their memberships' changes in ONE statement, for a
    call that changes no organization itself (none renamed, given new attrs or newly signed, none
    created, none refused). One round trip and the statement's own commit, instead of BEGIN, the
    UPDATE that locks the organizations named, the writes and COMMIT (update_and_lock, then
    replace_list).

    Returns (decided, the id the UPDATE returned or None, the new list). Not `decided`: the call
    would change or create an organization, or unsigned data names a signed one it is not a member
    of (refused), as the organizations stand; nothing was written, and the caller takes the path
    that locks them and decides there (update_and_lock). Decided with no id: the row moved on
    since the read (nothing written, as update_and_lock's None). An IntegrityError: an
    organization a membership is written for changed or went while the statement waited for it
    (below); nothing was written either.

    Why one statement keeps every guarantee:
    - The UPDATE runs only if the organizations named are, in the statement's snapshot, exactly
      as the call describes them (the same name, the same attrs text, signed already when the
      data is signed; for unsigned data, not signed unless the user is a member): then
      replace_list would change none of them, and the writes are only the memberships, decided
      from `current` (the read at `read_version`).
    - The membership writes run only if the UPDATE took the row at the version read (they select
      from its result). Every write of the user's row or memberships moves the version on under
      the row lock, so when the UPDATE matched, the memberships in the statement's snapshot are
      those the version was read with, and no other write can change them before the commit.
    - Each organization a membership is written for is then locked FOR KEY SHARE, in id order
      after the user's row, as every path locks (`locked`): a call that holds it FOR UPDATE to
      rename, sign or delete it (the locked path, the server API) is waited for, and the row is
      checked again as it is after that call's commit. One that no longer matches the call (now
      signed, renamed, gone) is missing from `locked`: its membership row gets no organization,
      the NOT NULL constraint breaks, and the statement is undone whole (IntegrityError: the
      caller takes the locked path, which decides on the new state). So no membership is ever
      written into an organization as it stood before a change that committed first. The
      organizations kept as they are and not moved are not locked: nothing of theirs is written.
    - A statement is atomic: a failure anywhere leaves nothing written.
    Attrs compare as the stored JSON text (what json.dumps wrote, as every writer here does): a
    text that differs only in key order reads as a change, and the locked path decides."""
    known = {o.external_id: (i, o.member_signed) for i, o in enumerate(current)}
    named = {o.id for o in orgs}
    compiled, sql, names, processors = _with_list_form(user_update, connection.dialect)
    values = compiled.construct_params(params)
    sent = {name: values[name] if process is None else process(values[name])
            for name, process in zip(names, processors)}
    sent.update(
        org_tenant=tenant_id, org_signed=signed, org_count=len(orgs),
        org_wanted=json.dumps([{"ext": o.id, "name": o.name, "member": o.id in known,
                                "attrs": None if o.attrs is MISSING else json.dumps(o.attrs)} for o in orgs]),
        org_left=json.dumps([external_id for external_id in known if external_id not in named]),
        org_members=json.dumps([{"ext": o.id, "position": i} for i, o in enumerate(orgs)
                                if known.get(o.id) != (i, signed)]))
    rows = _on_psycopg(connection, sql, sent)
    if not rows[0].ok:
        return False, None, ()
    if rows[0].user_row is None:
        return True, None, ()
    found = {r.external_id: r for r in rows}
    return True, rows[0].user_row, tuple(
        OrgInfo(o.id, o.name, (found[o.id].attrs if o.attrs is MISSING else o.attrs) or {},
                bool(found[o.id].signed) or signed, signed) for o in orgs)


@functools.lru_cache(maxsize=256)  # one per user UPDATE (user_writes._update_statement's)
def _with_list_form(user_update, dialect) -> tuple:
    """update_with_list's statement: (the UPDATE's compiled form, the whole SQL, the UPDATE's
    parameters' names, their bind processors). The UPDATE runs only when `checked` says so."""
    compiled, update_sql, names, processors = _compiled_form(user_update.where(text("(SELECT ok FROM checked)")),
                                                             dialect)
    return compiled, _WITH_LIST.replace("{user_update}", update_sql), names, processors


# An organization `o` exactly as the call's item `d` describes it (update_with_list).
_AS_DESCRIBED = (
    " o.tenant_id = %(org_tenant)s AND o.external_id = d.ext AND o.name = d.name"
    " AND (d.attrs IS NULL OR CAST(o.attrs AS TEXT) = d.attrs)"
    " AND CASE WHEN %(org_signed)s THEN o.signed ELSE NOT o.signed OR d.member END")
_DESCRIBED = ("json_to_recordset(CAST(%(org_wanted)s AS JSON))"
              " AS d(ext VARCHAR, name VARCHAR, attrs TEXT, member BOOLEAN)")
_WRITTEN = "json_to_recordset(CAST(%(org_members)s AS JSON)) AS m(ext VARCHAR, position INTEGER)"

_WITH_LIST = (
    f"WITH wanted AS (SELECT o.id, o.external_id, o.attrs, o.signed FROM {_DESCRIBED}"
    f" JOIN organization o ON{_AS_DESCRIBED}),"
    " checked AS (SELECT count(*) = %(org_count)s AS ok FROM wanted),"
    " updated_user AS ({user_update}),"
    # After the user's row (the EXISTS runs the UPDATE first), in id order; checked again once
    # a concurrent change to the row has committed (READ COMMITTED's re-check of a locked row).
    f" locked AS (SELECT o.id, o.external_id FROM {_DESCRIBED} JOIN organization o ON{_AS_DESCRIBED}"
    f" WHERE d.ext IN (SELECT m.ext FROM {_WRITTEN}) AND EXISTS (SELECT 1 FROM updated_user)"
    " ORDER BY o.id FOR KEY SHARE OF o),"
    " left_memberships AS ("
    " DELETE FROM org_membership WHERE user_id IN (SELECT id FROM updated_user) AND organization_id IN ("
    " SELECT id FROM organization WHERE tenant_id = %(org_tenant)s"
    " AND external_id IN (SELECT json_array_elements_text(CAST(%(org_left)s AS JSON))))),"
    # An organization missing from `locked` leaves organization_id NULL: the statement breaks whole.
    " joined AS ("
    " INSERT INTO org_membership (user_id, organization_id, tenant_id, position, signed)"
    f" SELECT u.id, l.id, %(org_tenant)s, m.position, %(org_signed)s FROM updated_user u CROSS JOIN {_WRITTEN}"
    " LEFT JOIN locked l ON l.external_id = m.ext"
    " ON CONFLICT (user_id, organization_id) DO UPDATE SET position = excluded.position, signed = excluded.signed)"
    " SELECT c.ok, u.id AS user_row, w.external_id, w.attrs, w.signed"
    " FROM checked c LEFT JOIN updated_user u ON true LEFT JOIN wanted w ON c.ok")


class _Org(NamedTuple):
    """An organization row as SQLite's update_and_lock returns it (attrs as stored, parsed here:
    SQLite's own JSON functions would print the numbers again, not always as they were)."""
    id: int
    external_id: str
    name: str
    attrs: dict
    signed: bool


def replace_list(connection: Connection, tenant_id: int, user_id: int, current: tuple, orgs: tuple[OrgData, ...],
                 signed: bool, rows: dict | None = None,
                 renamed: list[int] | None = None) -> tuple[OrgInfo, ...] | OrgData:
    """organizations.apply in Core statements, for a user whose row this transaction holds at the
    version `current` was read at (update_in_place), or has just inserted (insert_new, `current`
    empty): the memberships are exactly `current` (OrgInfo snapshots), so the diff holds.

    `rows`: the named organizations already read locked (update_and_lock), else read here. The
    missing ones are inserted; then only what changes is written: the organizations that differ,
    the memberships left, and those joined or moved. Returns the new list, or the organization
    unsigned data may not send (nothing written: the caller refuses and rolls back). `renamed`:
    the row ids of the organizations whose name or attrs this changed are added to it.
    """
    postgres = connection.dialect.name == "postgresql"
    if rows is None:
        rows = _locked(connection, tenant_id, [o.id for o in orgs]) if orgs else {}
    fresh = sorted({o.id for o in orgs} - set(rows))
    if fresh:
        _insert_missing(connection, tenant_id, sorted((o for o in orgs if o.id not in rows), key=lambda o: o.id),
                        signed)
        rows.update(_locked(connection, tenant_id, fresh))
    old = {o.external_id: (i, o.member_signed) for i, o in enumerate(current)}
    if not signed:
        refused = _first_refused(rows, set(old), orgs)
        if refused is not None:
            return refused
    now, result, changed, members = utcnow(), [], [], []
    for i, data in enumerate(orgs):
        row = rows[data.id]
        attrs = row.attrs if data.attrs is MISSING else data.attrs
        differs = _org_differs(row, data)
        if (signed and not row.signed) or differs:
            changed.append((row.id, data.name, attrs, bool(row.signed) or signed))
        if differs and renamed is not None:
            renamed.append(row.id)
        if old.get(data.id) != (i, signed) or data.id in fresh:
            members.append((row.id, i))
        result.append(OrgInfo(data.id, data.name, attrs or {}, bool(row.signed) or signed, signed))
    left = [external_id for external_id in old if external_id not in rows]
    if postgres and sum(map(bool, (changed, left, members))) > 1:  # one round trip for the three
        _write_postgres(connection, tenant_id, user_id, signed, now, changed, left, members)
    else:
        _write_each(connection, tenant_id, user_id, signed, now, changed, left, members)
    return tuple(result)


def _locked(connection: Connection, tenant_id: int, ids: list[str]) -> dict:
    postgres = connection.dialect.name == "postgresql"
    return {r.external_id: r for r in connection.execute(_by_ids(postgres), {"org_tenant": tenant_id,
                                                                             "org_ids": _id_list(postgres, ids)})}


def _named(column, name: str, postgres: bool):
    """`column` is one of a list of ids given as one parameter: one SQL text whatever the count,
    no IN list expanded per call. PostgreSQL `= ANY(array)`; SQLite `IN (json_each(JSON array))`."""
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(String)))
    return column.in_(select(func.json_each(bindparam(name, type_=String)).table_valued("value").c.value))


def _id_list(postgres: bool, ids: list[str]):
    """The parameter of a `_named` list: an array on PostgreSQL, a JSON array on SQLite."""
    return ids if postgres else json.dumps(ids)


@functools.cache
def _by_ids(postgres: bool):
    """The named organizations, locked (sorted by id: two writers lock them in the same order).
    (Parameters not named like a column: in update_and_lock's UPDATE, a parameter named like one
    of end_user's columns would be SET.)"""
    return (select(_TABLE.c.id, _TABLE.c.external_id, _TABLE.c.name, _TABLE.c.attrs, _TABLE.c.signed)
            .where(_TABLE.c.tenant_id == bindparam("org_tenant"), _named(_TABLE.c.external_id, "org_ids", postgres))
            .order_by(_TABLE.c.id).with_for_update())


@functools.cache
def _update_then_lock(user_update, postgres: bool):
    """PostgreSQL: WITH u AS (UPDATE … RETURNING id) SELECT u.id, o.* FROM u LEFT JOIN LATERAL
    (the named organizations FOR UPDATE) o ON true: one row per organization (or one with NULLs
    when none exists yet), none when the UPDATE matched nothing (then nothing is locked).
    SQLite: UPDATE … RETURNING id, (the named organizations as a JSON array of arrays)."""
    named = _by_ids(postgres)
    if postgres:
        updated = user_update.cte("updated_user")
        named = named.lateral("named")
        return select(updated.c.id.label("user_row"), named).select_from(updated.outerjoin(named, true()))
    named = named.subquery("named")  # SQLite has no FOR UPDATE (none is printed): BEGIN IMMEDIATE holds all
    as_json = func.json_group_array(func.json_array(named.c.id, named.c.external_id, named.c.name,
                                                    named.c.attrs, named.c.signed))
    return user_update.returning(select(as_json).scalar_subquery())


def _write_each(connection, tenant_id, user_id, signed, now, changed, left, members) -> None:
    """The writes as separate statements, each only when needed (SQLite; PostgreSQL for one kind)."""
    if changed:
        connection.execute(_UPDATE_ORG, [{"row_id": row_id, "new_name": name, "new_attrs": attrs, "new_signed": flag,
                                          "now": now} for row_id, name, attrs, flag in changed])
    postgres = connection.dialect.name == "postgresql"
    if left and postgres:
        _on_driver(connection, _LEAVE_POSTGRES, {"user_id": user_id, "tenant_id": tenant_id, "left": left})
    elif left:  # SQLite: plain values in the driver's style (see the module's docstring)
        connection.exec_driver_sql(_LEAVE_SQLITE, (user_id, tenant_id, _id_list(False, left)))
    if members and postgres:
        _on_driver(connection, _UPSERT_MEMBERS, [{"user_id": user_id, "organization_id": org_id, "tenant_id": tenant_id,
                                                  "position": position, "signed": signed}
                                                 for org_id, position in members])
    elif members:
        connection.exec_driver_sql(_UPSERT_MEMBERS_SQLITE, [(user_id, org_id, tenant_id, position, signed)
                                                            for org_id, position in members])


_UPDATE_ORG = (update(_TABLE).where(_TABLE.c.id == bindparam("row_id"))
               .values(name=bindparam("new_name"), attrs=bindparam("new_attrs", type_=_TABLE.c.attrs.type),
                       signed=bindparam("new_signed"), updated_at=bindparam("now", type_=_TABLE.c.updated_at.type)))


_LEAVE_POSTGRES = delete(_MEMBERS).where(_MEMBERS.c.user_id == bindparam("user_id"), _MEMBERS.c.organization_id.in_(
    select(_TABLE.c.id).where(_TABLE.c.tenant_id == bindparam("tenant_id"),
                              _named(_TABLE.c.external_id, "left", True))))


_LEAVE_SQLITE = ("DELETE FROM org_membership WHERE user_id = ? AND organization_id IN (SELECT id FROM organization"
                 " WHERE tenant_id = ? AND external_id IN (SELECT value FROM json_each(?)))")

# A membership joined, or kept and moved (also one whose row went with its organization since the
# read: it is made again). Plain SQL, so its cache key holds; SQLite's copy has the driver's "?".
_UPSERT_MEMBERS = text(
    "INSERT INTO org_membership (user_id, organization_id, tenant_id, position, signed)"
    " VALUES (:user_id, :organization_id, :tenant_id, :position, :signed)"
    " ON CONFLICT (user_id, organization_id) DO UPDATE SET position = excluded.position, signed = excluded.signed")
_UPSERT_MEMBERS_SQLITE = (
    "INSERT INTO org_membership (user_id, organization_id, tenant_id, position, signed) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (user_id, organization_id) DO UPDATE SET position = excluded.position, signed = excluded.signed")


def _write_postgres(connection, tenant_id, user_id, signed, now, changed, left, members) -> None:
    """The three writes in one statement (one round trip): they touch disjoint rows (the memberships
    left are of organizations the list no longer names; those upserted and renamed it names)."""
    _on_driver(connection, _WRITE_POSTGRES, {
        "user_id": user_id, "tenant_id": tenant_id, "signed": signed, "now": now, "left": left,
        "changed_ids": [c[0] for c in changed], "changed_names": [c[1] for c in changed],
        "changed_attrs": [json.dumps(c[2]) for c in changed], "changed_signed": [c[3] for c in changed],
        "member_ids": [m[0] for m in members], "positions": [m[1] for m in members]})


_WRITE_POSTGRES = text(
    "WITH left_memberships AS ("
    " DELETE FROM org_membership WHERE user_id = :user_id AND organization_id IN ("
    " SELECT id FROM organization WHERE tenant_id = :tenant_id AND external_id = ANY(CAST(:left AS VARCHAR[])))),"
    " changed AS ("
    " UPDATE organization SET name = c.name, attrs = CAST(c.attrs AS JSON), signed = c.signed, updated_at = :now"
    " FROM unnest(CAST(:changed_ids AS INTEGER[]), CAST(:changed_names AS VARCHAR[]), CAST(:changed_attrs AS TEXT[]),"
    " CAST(:changed_signed AS BOOLEAN[])) AS c(id, name, attrs, signed) WHERE organization.id = c.id)"
    " INSERT INTO org_membership (user_id, organization_id, tenant_id, position, signed)"
    " SELECT :user_id, m.organization_id, :tenant_id, m.position, :signed"
    " FROM unnest(CAST(:member_ids AS INTEGER[]), CAST(:positions AS INTEGER[])) AS m(organization_id, position)"
    " ON CONFLICT (user_id, organization_id) DO UPDATE SET position = excluded.position, signed = excluded.signed"
).bindparams(bindparam("now", type_=UTCDateTime()))
