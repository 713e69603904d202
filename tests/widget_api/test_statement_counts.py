"""What each set-user path sends to the database (issue 18), through the HTTP surface: a path that
starts sending more statements fails here, before any benchmark notices it.

Counted: every statement on the engine (BEGIN included on SQLite; PostgreSQL's BEGIN is the
driver's own) and the hot path's reads (snapshots on the read connection). Statements of other
features' bookkeeping written by the same transaction (events in the outbox, key usage counters,
unsigned id samples) are left out: their own tests count them.
"""
from __future__ import annotations

import pytest
from sqlalchemy import event, text

from webapp.extensions import db
from webapp.services.end_users import snapshots

from .conftest import identify, make_tenant

OTHER_FEATURES = ("outbox_event", "usage_count", "unsigned_id_sample")


@pytest.fixture
def counted(db_app, monkeypatch):
    """call(body, headers=None) → (statements, reads) of one set-user, after it answered 200."""
    statements: list[str] = []
    reads: list[str] = []
    original = snapshots._run
    monkeypatch.setattr(snapshots, "_run", lambda sql, params: reads.append(sql) or original(sql, params))

    def record(_conn, _cursor, statement, *_args):
        if not any(table in statement for table in OTHER_FEATURES):
            statements.append(" ".join(statement.split()))

    with db_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)

    def call(tenant, body, headers=None):
        statements.clear()
        reads.clear()
        identify(tenant.api_client(), body, headers=headers)
        return list(statements), len(reads)

    yield call
    event.remove(engine, "before_cursor_execute", record)


def begin(app) -> list[str]:
    """SQLite's BEGIN IMMEDIATE is a statement; PostgreSQL's BEGIN is sent by the driver."""
    return ["BEGIN"] if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") else []


def kinds(statements: list[str]) -> list[str]:
    """Each statement as its verb and first table: "SELECT end_user", "UPDATE org_membership"
    (compared sorted: the order of a flush's statements is SQLAlchemy's)."""
    out = []
    for sql in statements:
        words = sql.replace(",", " ").split()
        verb = words[0]
        if verb == "BEGIN":
            out.append("BEGIN")
            continue
        if verb == "WITH":  # PostgreSQL's statements of several parts (CTEs): named by the first
            out.append(f"WITH {words[1]}")
            continue
        marker = {"SELECT": "FROM", "INSERT": "INTO", "UPDATE": "UPDATE", "DELETE": "FROM"}[verb]
        out.append(f"{verb} {words[words.index(marker) + 1]}")
    return out


def test_returning_verified_user_reads_once_and_writes_nothing(db_app, ed_key, counted):
    """The tenant and the user in one read (snapshots.tenant_and_user); on SQLite, once more with
    nothing committed since, not even that (read_connections.memoized)."""
    tenant = make_tenant(db_app, ed_key)
    token = tenant.sign({"id": "ret", "name": "Ret", "attrs": {"plan": "pro"},
                         "organizations": [{"id": "o1", "name": "O1"}, {"id": "o2", "name": "O2"}]}, "EdDSA")
    visitor = identify(tenant.api_client(), {"jwt": token})["visitorId"]
    assert counted(tenant, {"jwt": token}, {"X-Signet-Visitor": visitor}) == ([], 1)
    assert counted(tenant, {"jwt": token}, {"X-Signet-Visitor": visitor}) == ([], 0 if begin(db_app) else 1)


def test_anonymous_visitor_reads_the_tenant_only(db_app, ed_key, counted):
    tenant = make_tenant(db_app, ed_key)
    assert counted(tenant, {"id": None}) == ([], 1)


def test_changing_name_and_attrs_is_one_update(db_app, ed_key, counted):
    tenant = make_tenant(db_app, ed_key)
    identify(tenant.api_client(), {"id": "u", "name": "A", "organizations": [{"id": "o1", "name": "O1"}]})
    statements, reads = counted(tenant, {"id": "u", "name": "B", "attrs": {"n": 2},
                                         "organizations": [{"id": "o1", "name": "O1"}]})
    # The UPDATE is all there is to write: sent alone, its own transaction (no BEGIN, no COMMIT)
    assert (kinds(statements), reads) == (["UPDATE end_user"], 1)


def test_changing_organizations_writes_only_the_memberships_that_change(db_app, ed_key, counted):
    tenant = make_tenant(db_app, ed_key)
    orgs = [{"id": f"o{i}", "name": f"O{i}"} for i in range(4)]
    identify(tenant.api_client(), {"id": "u", "name": "A", "organizations": orgs[:2]})
    identify(tenant.api_client(), {"id": "other", "organizations": orgs[2:]})  # o2, o3 exist
    # o0 kept (same position), o1 left, o2 joined: one DELETE, one INSERT, no UPDATE of o0's row.
    # No locked read of the user: the UPDATE at the version read holds the row, and the
    # memberships read with it are the ones stored (user_writes.update_in_place).
    with db_app.app_context():
        stamps = dict(db.session.execute(text("SELECT external_id, updated_at FROM organization")).all())
    statements, reads = counted(tenant, {"id": "u", "name": "B", "attrs": {"n": 2},
                                         "organizations": [orgs[0], orgs[2]]})
    if begin(db_app):  # SQLite: the UPDATE returns the organizations named (org_lists.update_and_lock)
        assert kinds(statements) == begin(db_app) + [
            "UPDATE end_user", "DELETE org_membership", "INSERT org_membership"], statements
        assert "RETURNING" in statements[1] and "FROM organization" in statements[1].split("RETURNING")[1]
    else:  # PostgreSQL: no organization changes, so one statement sent alone, its own transaction
        # (org_lists.update_with_list): the check of the organizations named, the UPDATE, the
        # DELETE and the INSERT (round trips: BEGIN, two statements and COMMIT -> one)
        assert kinds(statements) == ["WITH wanted"], statements
        assert [part for part in ("UPDATE end_user", "FROM organization", "DELETE FROM org_membership",
                                  "INSERT INTO org_membership", "FOR UPDATE") if part in statements[0]] == [
            "UPDATE end_user", "FROM organization", "DELETE FROM org_membership", "INSERT INTO org_membership"]
    with db_app.app_context():
        assert dict(db.session.execute(text("SELECT external_id, updated_at FROM organization")).all()) == stamps
        assert db.session.execute(text(
            "SELECT o.external_id, m.position FROM org_membership m JOIN organization o ON o.id = m.organization_id"
            " JOIN end_user u ON u.id = m.user_id WHERE u.external_id = 'u' ORDER BY m.position")).all() == [
            ("o0", 0), ("o2", 1)]
    assert reads == 1


def test_a_new_user_is_one_insert(db_app, ed_key, counted):
    """No locked SELECT first: the unlocked read found no row (a concurrent insert is retried)."""
    tenant = make_tenant(db_app, ed_key)
    statements, reads = counted(tenant, {"id": "newcomer", "name": "New", "attrs": {"a": 1}})
    assert (kinds(statements), reads) == (["INSERT end_user"], 1)  # alone: no BEGIN, no COMMIT


def test_a_new_user_in_a_new_organization(db_app, ed_key, counted):
    tenant = make_tenant(db_app, ed_key)
    statements, reads = counted(tenant, {"id": "newcomer", "organizations": [{"id": "fresh", "name": "Fresh"}]})
    assert sorted(kinds(statements)) == sorted(begin(db_app) + [
        "SELECT organization", "INSERT organization", "SELECT organization",
        "INSERT end_user", "INSERT org_membership"]), statements
    assert reads == 2  # the tenant with the user, and the signed organizations among those named
