"""An existing user's organization list written by set-user's fast path (services/end_users/org_lists.py),
on SQLite and PostgreSQL (whose writes are combined statements there): the stored list is the one
sent, an organization is renamed only when it differs, a refusal writes nothing (API.md §9).
"""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from webapp.extensions import db
from webapp.infra import read_connections
from webapp.models import EndUser, Organization, OrgMembership
from webapp.services.end_users import user_writes

from .conftest import assert_error, call, identify, make_tenant, set_user, snapshot


def stored(app, external_id: str) -> tuple[str, list[tuple]]:
    """The user's name and memberships in order: (org id, name, attrs, org signed, membership signed)."""
    with app.app_context():
        user = db.session.scalar(select(EndUser).where(EndUser.external_id == external_id))
        rows = db.session.execute(
            select(Organization.external_id, Organization.name, Organization.attrs, Organization.signed,
                   OrgMembership.signed)
            .join(OrgMembership, OrgMembership.organization_id == Organization.id)
            .where(OrgMembership.user_id == user.id).order_by(OrgMembership.position)).all()
        return user.name, [tuple(r) for r in rows]


def test_one_call_leaves_joins_moves_and_renames(db_app, ed_key):
    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    identify(client, {"id": "u", "name": "A", "organizations": [
        {"id": "a", "name": "A"}, {"id": "b", "name": "B"}, {"id": "c", "name": "C", "attrs": {"flag": 1}}]})
    # c first and changed (true is not 1), a moved, b left, d new: every kind of write in one call
    sent = [{"id": "c", "name": "C2", "attrs": {"flag": True}}, {"id": "a", "name": "A"}, {"id": "d", "name": "D"}]
    answer = identify(client, {"id": "u", "name": "B", "organizations": sent})
    assert [o["id"] for o in answer["user"]["organizations"]] == ["c", "a", "d"]
    name, rows = stored(db_app, "u")
    assert (name, rows) == ("B", [("c", "C2", {"flag": True}, False, False), ("a", "A", {}, False, False),
                                  ("d", "D", {}, False, False)])
    assert rows[0][2]["flag"] is True
    assert identify(client, {"id": "u", "organizations": []})["user"]["organizations"] == []
    assert stored(db_app, "u") == ("B", [])


def test_signed_data_marks_the_organizations_and_memberships_it_names(db_app, ed_key):
    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    identify(client, {"id": "u", "name": "A", "organizations": [{"id": "a", "name": "A"}]})
    token = tenant.sign({"id": "u", "name": "A", "organizations": [{"id": "a", "name": "A"}, {"id": "s", "name": "S"}]},
                        "EdDSA")
    identify(client, {"jwt": token})
    assert stored(db_app, "u") == ("A", [("a", "A", {}, True, True), ("s", "S", {}, True, True)])


@pytest.mark.parametrize("own_name", ["Own 2", "Own"])
def test_unsigned_data_joining_a_signed_organization_changes_nothing(db_app, ed_key, own_name):
    """The refusal comes from the locked read of the organizations, after the user's UPDATE ran
    (one statement on PostgreSQL): the whole transaction is rolled back. With "Own" kept as it is,
    nothing changes an organization, so PostgreSQL first tries the one statement
    (org_lists.update_with_list), which stops before its UPDATE at the signed "s"."""
    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    identify(client, {"jwt": tenant.sign({"id": "vera", "organizations": [{"id": "s", "name": "S"}]}, "EdDSA")})
    identify(client, {"id": "mallory", "name": "M", "organizations": [{"id": "own", "name": "Own"}]})
    before = snapshot(db_app)
    response = set_user(client, {"id": "mallory", "name": "M2", "attrs": {"n": 1},
                                 "organizations": [{"id": "own", "name": own_name}, {"id": "s", "name": "S"}]})
    assert_error(response, 403, "verification_required", "organizations[1].id")
    assert snapshot(db_app) == before
    assert stored(db_app, "mallory") == ("M", [("own", "Own", {}, False, False)])


def test_a_write_sent_alone_leaves_the_next_transaction_whole(db_app, ed_key):
    """A new user and a name change are single statements sent without BEGIN/COMMIT
    (database.writing_alone, autocommit on PostgreSQL): the connection goes back to transactions,
    so the next call's UPDATE, refused after it ran, is rolled back with the rest."""
    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    identify(client, {"jwt": tenant.sign({"id": "vera", "organizations": [{"id": "s", "name": "S"}]}, "EdDSA")})
    identify(client, {"id": "mallory", "name": "M"})  # alone: the INSERT
    identify(client, {"id": "mallory", "name": "M2", "attrs": {"n": 1}})  # alone: the UPDATE
    assert stored(db_app, "mallory") == ("M2", [])
    before = snapshot(db_app)
    for _ in range(3):  # whichever pooled connection serves it
        response = set_user(client, {"id": "mallory", "name": "M3", "organizations": [{"id": "s", "name": "S"}]})
        assert_error(response, 403, "verification_required", "organizations[0].id")
        assert snapshot(db_app) == before


def _another_write_before_the_update(monkeypatch, app, sql: str) -> None:
    """Run `sql` on a connection of its own just before set-user's in-place UPDATE (once), as
    another worker's call that commits between this call's read and its write."""
    real = user_writes.update_in_place
    pending = [sql]

    def racing(*args, **kwargs):
        if pending:
            with app.app_context(), db.engine.begin() as other:
                other.execute(text(pending.pop()))
        return real(*args, **kwargs)

    monkeypatch.setattr(user_writes, "update_in_place", racing)


def test_a_call_whose_read_went_stale_decides_again_and_loses_nothing(db_app, ed_key, monkeypatch):
    """The UPDATE at the version read finds the row moved on: the call reads the user again and
    decides again, so the other call's change stays and this one's applies after it."""
    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    identify(client, {"id": "u", "name": "A", "organizations": [{"id": "a", "name": "A"}]})
    _another_write_before_the_update(monkeypatch, db_app, "UPDATE end_user SET email = 'other@example.com',"
                                                          " version = version + 1 WHERE external_id = 'u'")
    locked = []
    real_write = user_writes.write
    monkeypatch.setattr(user_writes, "write", lambda *args, **kwargs: locked.append(1) or real_write(*args, **kwargs))
    answer = identify(client, {"id": "u", "name": "B", "organizations": [{"id": "b", "name": "B"}]})
    assert (answer["user"]["name"], answer["user"]["email"]) == ("B", "other@example.com")
    assert stored(db_app, "u") == ("B", [("b", "B", {}, False, False)])
    assert locked == [], "decided again from a fresh read, without the locked path"


def test_unsigned_data_read_before_the_user_was_verified_changes_nothing(db_app, ed_key, monkeypatch):
    """The user read was unverified; signed data verified them before this call's write: read
    again, the unsigned call is refused (API.md §9) and nothing it sent is stored."""
    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    identify(client, {"id": "u", "name": "A", "organizations": [{"id": "a", "name": "A"}]})
    _another_write_before_the_update(monkeypatch, db_app, "UPDATE end_user SET verified = true, verified_via ="
                                                          " 'token', version = version + 1 WHERE external_id = 'u'")
    response = set_user(client, {"id": "u", "name": "Mallory", "organizations": [{"id": "m", "name": "M"}]})
    assert_error(response, 403, "verification_required")
    assert stored(db_app, "u") == ("A", [("a", "A", {}, False, False)])


def test_a_returning_users_organizations_are_read_as_stored(db_app, ed_key):
    """The read ahead of a returning user (one aggregated row on PostgreSQL, a join on SQLite)
    gives back the organizations in their order, their attrs' numbers and text as sent, a user
    without organizations none, and a tenant's other users nothing of theirs."""
    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    orgs = [{"id": "z", "name": "Zed", "attrs": {"n": 1.0, "big": 9007199254740993, "s": "é\u2028"}},
            {"id": "a", "name": "A", "attrs": {"x": 2.5e-7, "t": True, "none": None}},
            {"id": "m", "name": "M"}]
    token = tenant.sign({"id": "u", "name": "U", "organizations": orgs}, "EdDSA")
    first = identify(client, {"jwt": token})
    again = identify(client, {"jwt": token})  # nothing changes: the answer is the read ahead
    assert again["user"] == first["user"]
    assert [(o["id"], o["name"], o.get("attrs")) for o in again["user"]["organizations"]] == [
        ("z", "Zed", {"n": 1.0, "big": 9007199254740993, "s": "é\u2028"}),
        ("a", "A", {"x": 2.5e-7, "t": True, "none": None}), ("m", "M", {})]
    assert isinstance(again["user"]["organizations"][0]["attrs"]["n"], float)
    lone = tenant.sign({"id": "lone", "name": "Lone"}, "EdDSA")
    identify(client, {"jwt": lone})
    assert identify(client, {"jwt": lone})["user"]["organizations"] == []


def test_a_visitors_conversation_goes_to_the_returning_user_on_both_databases(db_app, ed_key):
    """The read ahead names the visitor's own row (visitor_row) with the user: the merge happens
    although nothing about the user changes."""
    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    token = tenant.sign({"id": "u", "name": "U", "organizations": [{"id": "o", "name": "O"}]}, "EdDSA")
    identify(client, {"jwt": token})
    visitor = identify(client, {"id": None})
    started = call(client, "POST", "conversations", {"body": "Hello"}, session=visitor["session"])
    assert started.status_code == 201, started.get_json()
    user = identify(client, {"jwt": token}, headers={"X-Signet-Visitor": visitor["visitorId"]})
    listed = call(client, "GET", "conversations", session=user["session"]).get_json()["conversations"]
    assert [c["id"] for c in listed] == [started.get_json()["id"]]


def test_the_fast_path_stores_what_the_locked_path_stores(db_app, ed_key):
    """The fast path's statements go to the driver with each value through its column type's own
    processing (org_lists._on_driver, both databases): the same attrs text, the same time format,
    the same flags as the ORM's locked path writes for the same data."""
    import re

    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    attrs = {"é": 1.5, "big": 9007199254740993, "t": True, "none": None, "s": "a\u2028b"}
    orgs = [{"id": "o", "name": "O", "attrs": {"x": 2}}]
    for user in ("fast", "locked"):
        identify(client, {"jwt": tenant.sign({"id": user, "name": "A", "organizations": orgs}, "EdDSA")})
    identify(client, {"jwt": tenant.sign({"id": "fast", "name": "B", "attrs": attrs, "organizations": orgs}, "EdDSA")})
    identify(client, {"jwt": tenant.sign({"id": "locked", "name": "B", "attrs": attrs, "organizations": orgs,
                                          "jti": "locked-path"}, "EdDSA")})
    with db_app.app_context():
        rows = {r.external_id: r for r in db.session.execute(text(
            "SELECT external_id, name, CAST(attrs AS TEXT) AS attrs, CAST(last_seen_at AS TEXT) AS seen, verified,"
            " verified_via, version FROM end_user WHERE external_id IN ('fast', 'locked')"))}
    fast, locked = rows["fast"], rows["locked"]
    assert (fast.name, fast.attrs, fast.verified, fast.verified_via, fast.version) == \
        (locked.name, locked.attrs, locked.verified, locked.verified_via, locked.version)
    if db_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):  # (PostgreSQL stores a timestamp, not text)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", fast.seen), fast.seen
        assert re.sub(r"\d", "9", fast.seen) == re.sub(r"\d", "9", locked.seen)  # the same stored time format
    assert identify(client, {"jwt": tenant.sign({"id": "fast", "name": "B", "attrs": attrs, "organizations": orgs},
                                                "EdDSA")})["user"]["attrs"] == attrs


def test_a_fast_write_whose_connection_the_server_ended_is_a_503_and_writes_nothing(postgres_app, ed_key):
    """PostgreSQL: the fast path sends its statements on psycopg's own cursor (org_lists._on_driver).
    When the server has ended the pool's connections (a restart, an administrator), the call is
    answered 503 `service_unavailable`, as through SQLAlchemy, and nothing of it is stored; the
    pool's other connections of before go with the dead one, so the very next calls write whole
    (one 503 per restart, not one per pooled connection)."""
    import psycopg

    tenant = make_tenant(postgres_app, ed_key)
    client = tenant.api_client()
    orgs = [{"id": "o1", "name": "One"}, {"id": "o2", "name": "Two"}]
    identify(client, {"id": "u", "name": "A", "organizations": orgs[:1]})
    before = stored(postgres_app, "u")
    with postgres_app.app_context():  # four connections in the pool, as a busy worker keeps
        held = [db.engine.connect() for _ in range(4)]
        for connection in held:
            connection.exec_driver_sql("SELECT 1")
            connection.close()
    reader = read_connections._local.held.connection.info.backend_pid  # this thread's (the test client's)
    url = postgres_app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as admin:  # the pool's connections, not the read connection
        ended = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                              " WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), %s)",
                              (reader,)).fetchone()[0]
    assert ended >= 4
    response = set_user(client, {"id": "u", "name": "B", "organizations": orgs})
    assert_error(response, 503, "service_unavailable")
    assert stored(postgres_app, "u") == before
    for name in ("B", "C", "D", "E"):
        assert identify(client, {"id": "u", "name": name, "organizations": orgs})["user"]["name"] == name
    assert stored(postgres_app, "u") == ("E", [("o1", "One", {}, False, False), ("o2", "Two", {}, False, False)])
