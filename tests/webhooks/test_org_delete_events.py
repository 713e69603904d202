"""Deleting or renaming an organization changes its members' public objects: each gets a
user.updated event when an endpoint subscribes. The call (the server API's organization
endpoints, a set-user call or a user upsert that renames one) leaves a note the worker turns into
the members' events (services/webhooks/member_events.py), whatever the organization's size."""
from __future__ import annotations

import json
import threading

import pytest

from sqlalchemy import event, select, text

from webapp.extensions import db
from webapp.infra.database import writing
from webapp.models import OutboxEvent
from webapp.services.webhooks import member_events
from webapp.services.webhooks.worker import drain

from ..server_api.conftest import Api, make_key
from .conftest import add_endpoint


@pytest.fixture
def app(app_on_both):
    """Every test here on SQLite and on PostgreSQL (its worker claims notes FOR UPDATE SKIP LOCKED)."""
    return app_on_both


def user_events(app) -> list[tuple[str, dict]]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxEvent).where(OutboxEvent.type.like("user.%"))
                                  .order_by(OutboxEvent.id)).all()
        found = [(row.type, json.loads(row.payload)["data"]["user"]) for row in rows
                 if not row.payload.startswith("v1.")]  # (user.deleted is sealed)
        db.session.remove()
    return found


def seeded(app, tenant) -> Api:
    key, _ = make_key(app, tenant.public_id)
    api = Api(app, key, tenant)
    for user, orgs in (("u-1", ["o-1", "o-2"]), ("u-2", ["o-1"]), ("u-3", ["o-2"])):
        body = {"name": user, "organizations": [{"id": o, "name": o.upper()} for o in orgs]}
        assert api.put(f"/users/{user}", json=body).status_code == 201
    return api


def test_deleting_an_organization_emits_user_updated_for_each_member(app, tenant, receiver):
    api = seeded(app, tenant)
    add_endpoint(app, tenant, receiver, "user.updated")
    assert user_events(app) == []
    answer = api.delete("/organizations/o-1")
    assert answer.status_code == 200 and answer.get_json()["deleted"] == {"organizations": 1, "memberships": 2}
    assert user_events(app) == [] and internal_types(app) == ["signet.members_changed"]  # the worker tells them
    drain(app)
    found = user_events(app)
    assert sorted(user["id"] for _, user in found) == ["u-1", "u-2"]  # not u-3: not a member
    assert {type for type, _ in found} == {"user.updated"}
    now = {user["id"]: [o["id"] for o in user["organizations"]] for _, user in found}
    assert now == {"u-1": ["o-2"], "u-2": []}  # the users as they are after the delete
    assert now["u-1"] == [o["id"] for o in api.get("/users/u-1").get_json()["organizations"]]


def test_no_subscriber_no_event(app, tenant, receiver):
    api = seeded(app, tenant)
    add_endpoint(app, tenant, receiver, "user.verified")
    assert api.delete("/organizations/o-1").status_code == 200
    drain(app)
    assert user_events(app) == [] and internal_types(app) == []


def test_renaming_an_organization_emits_user_updated_for_each_member(app, tenant, receiver):
    """Its members' user objects show its name and attrs: a rename or new attrs is a user.updated
    for each member (as they are after it); the same name and attrs again is none."""
    api = seeded(app, tenant)
    add_endpoint(app, tenant, receiver, "user.updated")
    assert api.put("/organizations/o-2", json={"name": "O-2"}).status_code == 200  # as it is: nothing
    drain(app)
    assert user_events(app) == [] and internal_types(app) == []
    assert api.put("/organizations/o-2", json={"name": "Renamed", "attrs": {"tier": 1}}).status_code == 200
    assert user_events(app) == []  # the worker tells them
    drain(app)
    found = user_events(app)
    assert sorted(user["id"] for _, user in found) == ["u-1", "u-3"]  # not u-2: not a member
    for _, user in found:
        assert {"id": "o-2", "name": "Renamed", "attrs": {"tier": 1}} in user["organizations"]
    assert api.put("/organizations/o-2", json={"name": "Renamed", "attrs": {"tier": 1}}).status_code == 200
    drain(app)
    assert len(user_events(app)) == 2


def _set_user(client, body: dict, headers: dict | None = None) -> dict:
    response = client.post(client.tenant.url("set-user"), json=body, headers=headers or {})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _others(app, before: int, writer: str) -> list[tuple[str, dict]]:
    return [(type, user) for type, user in user_events(app)[before:] if user["id"] != writer]


def test_signed_data_renaming_an_organization_tells_its_other_members(app, tenant, receiver):
    """set-user's token renames an organization others belong to: their user objects show the new
    name, so each gets a user.updated, from the worker (as they are then), on every write path:
    the fast one, a new user's, the locked one (a token with a jti), and the server API's user
    upsert. The call itself writes one internal event per organization, whatever its size."""
    api = seeded(app, tenant)  # u-1: o-1, o-2; u-2: o-1; u-3: o-2 (names O-1, O-2)
    add_endpoint(app, tenant, receiver, "user.updated", "user.created")
    client = tenant.api_client()
    paths = (  # (the call's claims, the other members of o-1 then)
        ({"id": "u-2", "name": "u-2", "organizations": [{"id": "o-1", "name": "First"}]}, ["u-1"]),  # fast path
        ({"id": "u-9", "name": "u-9", "organizations": [{"id": "o-1", "name": "Second"}]}, ["u-1", "u-2"]),  # new
        ({"id": "u-2", "name": "u-2", "organizations": [{"id": "o-1", "name": "Third"}], "jti": "once"},
         ["u-1", "u-9"]),  # locked path
    )
    for claims, others in paths:
        before = len(user_events(app))
        _set_user(client, {"jwt": tenant.sign(claims, "EdDSA")})
        assert _others(app, before, claims["id"]) == []  # not in the call: the worker tells them
        drain(app)
        found = _others(app, before, claims["id"])
        assert sorted(user["id"] for _, user in found) == others, (claims, found)
        name = claims["organizations"][0]["name"]
        for type, user in found:
            assert type == "user.updated" and {"id": "o-1", "name": name, "attrs": {}} in user["organizations"]
    before = len(user_events(app))
    assert api.put("/users/u-3", json={"organizations": [{"id": "o-2", "name": "Renamed"}]}).status_code == 200
    drain(app)
    found = user_events(app)[before:]
    assert sorted(user["id"] for _, user in found) == ["u-1", "u-3"]  # u-3 itself, and the other member
    assert all({"id": "o-2", "name": "Renamed", "attrs": {}} in user["organizations"] for _, user in found)


def test_a_call_that_renames_nothing_tells_nobody_else(app, tenant, receiver):
    seeded(app, tenant)
    add_endpoint(app, tenant, receiver, "user.updated")
    client = tenant.api_client()
    _set_user(client, {"jwt": tenant.sign({"id": "u-2", "name": "Two", "organizations": [{"id": "o-1", "name": "O-1"}]},
                                          "EdDSA")})
    drain(app)
    assert [user["id"] for _, user in user_events(app)] == ["u-2"]  # its own change only


def add_members(app, tenant, org_external_id: str, count: int, signed: bool) -> None:
    """`count` users member-0000… of the organization, inserted in two statements."""
    with app.app_context():
        org_id = db.session.scalar(text("SELECT id FROM organization WHERE external_id = :e"), {"e": org_external_id})
        db.session.execute(text(
            "INSERT INTO end_user (tenant_id, external_id, anonymous, attrs, verified, email_verified, created_via,"
            " sessions_generation, version, first_seen_at, last_seen_at) VALUES (:t, :e, false, '{}', false, false,"
            " 'widget', 0, 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"),
            [{"t": tenant.id, "e": f"member-{n:04d}"} for n in range(count)])
        db.session.execute(text(
            "INSERT INTO org_membership (user_id, organization_id, tenant_id, position, signed)"
            " SELECT id, :o, :t, 0, :s FROM end_user WHERE external_id LIKE 'member-%'"),
            {"o": org_id, "t": tenant.id, "s": signed})
        db.session.commit()


def statements_of(app, call) -> list[str]:
    """The statements `call()` sent to the database."""
    sent = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: sent.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return sent


def worker_rounds(app, rounds: int) -> list[int]:
    """How many members each of `rounds` worker transactions told (member_events.tell)."""
    with app.app_context():
        told = []
        for _ in range(rounds):
            with writing():
                told.append(member_events.tell())
        db.session.remove()
    return told


def test_unsigned_data_renaming_a_large_organization_costs_the_call_one_row(app, tenant, receiver):
    """An unsigned call may rename an organization no signed data described: the call writes one
    internal event, not one per member (a client cannot make each request write thousands of
    events); the worker then tells all 1 200 other members, 500 a transaction, each once."""
    add_endpoint(app, tenant, receiver, "user.updated")
    client = tenant.api_client()
    _set_user(client, {"id": "writer", "organizations": [{"id": "big", "name": "Big"}]})
    add_members(app, tenant, "big", 1200, signed=False)
    sent = statements_of(app, lambda: _set_user(client, {"id": "writer",
                                                          "organizations": [{"id": "big", "name": "Bigger"}]}))
    assert len(sent) < 15, sent
    assert internal_types(app) == ["signet.organization_changed"]
    assert worker_rounds(app, 4) == [500, 500, 200, 0]  # the worker's transactions: 500 members each at most
    drain(app)
    found = user_events(app)
    told = [user["id"] for type, user in found if user["id"].startswith("member-")]
    assert sorted(told) == [f"member-{n:04d}" for n in range(1200)]  # each once
    assert all({"id": "big", "name": "Bigger", "attrs": {}} in user["organizations"] for _, user in found)


@pytest.mark.parametrize("change", ["rename", "delete"])
def test_the_server_api_changing_a_large_organization_writes_notes_not_events(app, tenant, receiver, change):
    """A backend renames or deletes an organization of 1 200 members: the call writes notes (one
    for a rename; the former members' ids, 500 a note, for a delete), a few statements whatever
    the size; the worker then tells each member once, 500 a transaction, as they are then."""
    key, _ = make_key(app, tenant.public_id)
    api = Api(app, key, tenant)
    add_endpoint(app, tenant, receiver, "user.updated")
    assert api.put("/organizations/big", json={"name": "Big"}).status_code == 201
    add_members(app, tenant, "big", 1200, signed=True)

    def change_it():
        if change == "rename":
            assert api.put("/organizations/big", json={"name": "Bigger"}).status_code == 200
        else:
            assert api.delete("/organizations/big").get_json()["deleted"] == {"organizations": 1, "memberships": 1200}

    sent = statements_of(app, change_it)
    assert len(sent) < 20, sent
    assert user_events(app) == []
    assert internal_types(app) == (["signet.organization_changed"] if change == "rename"
                                   else ["signet.members_changed"] * 3)
    assert worker_rounds(app, 4) == [500, 500, 200, 0]
    drain(app)
    found = user_events(app)
    assert sorted(user["id"] for _, user in found) == [f"member-{n:04d}" for n in range(1200)]  # each once
    expected = [{"id": "big", "name": "Bigger", "attrs": {}}] if change == "rename" else []
    assert all(user["organizations"] == expected for _, user in found)


@pytest.mark.parametrize("change", ["rename", "delete"])
def test_a_person_erased_while_the_worker_tells_them_is_told_nothing(app, tenant, receiver, change):
    """The worker is telling an organization's members (in its open transaction) when one of them
    is erased: the erasure waits for it (PostgreSQL: tell_members read them FOR KEY SHARE; SQLite:
    one writer at a time), then deletes the event written about them with their other events. No
    user.updated naming the erased person is left in the outbox or delivered."""
    api = seeded(app, tenant)  # u-1: o-1, o-2; u-2: o-1
    add_endpoint(app, tenant, receiver, "user.updated", "user.deleted")
    if change == "rename":
        assert api.put("/organizations/o-1", json={"name": "Renamed"}).status_code == 200
    else:
        assert api.delete("/organizations/o-1").status_code == 200
    answers = []
    eraser = threading.Thread(target=lambda: answers.append(Api(app, api.key, tenant).delete("/users/u-1")))
    with app.app_context():
        with writing():  # the worker's transaction, as in Worker.step
            assert member_events.tell() == 2
            eraser.start()
            eraser.join(0.5)
            assert eraser.is_alive()  # waiting for the worker's transaction
        db.session.remove()
    eraser.join(20)
    assert answers[0].status_code == 200
    drain(app)
    with app.app_context():
        payloads = db.session.scalars(select(OutboxEvent.payload)).all()
        db.session.remove()
    assert payloads and not [p for p in payloads if '"u-1"' in p or "u-1@" in p]
    received = receiver.wait_for(lambda got: any(r["type"] == "user.deleted" for r in got))
    told = [r["payload"]["data"]["user"]["id"] for r in received if r["type"] == "user.updated"]
    assert "u-1" not in told and "u-2" in told


def test_a_deleted_organizations_note_tells_only_the_users_it_listed(app, tenant, receiver):
    """A delete's note lists its former members' row ids. SQLite gives a deleted row's id to the
    next row: a user erased before the worker runs, and a newcomer who gets their id, is not told
    (the note tells only users first seen before it was written)."""
    api = seeded(app, tenant)  # u-1: o-1, o-2; u-2: o-1; u-3: o-2
    add_endpoint(app, tenant, receiver, "user.updated")
    with app.app_context():
        highest = db.session.scalar(text("SELECT max(id) FROM end_user"))
    assert api.put("/users/last", json={"name": "Last", "organizations": [{"id": "o-1", "name": "O-1"}]}
                   ).status_code == 201
    assert api.delete("/organizations/o-1").status_code == 200
    assert api.delete("/users/last").status_code == 200
    assert api.put("/users/newcomer", json={"name": "New"}).status_code == 201
    with app.app_context():
        newcomer = db.session.scalar(text("SELECT id FROM end_user WHERE external_id = 'newcomer'"))
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        assert newcomer == highest + 1  # the erased user's row id again
    before = len(user_events(app))
    drain(app)
    assert sorted(user["id"] for _, user in user_events(app)[before:]) == ["u-1", "u-2"]


def test_deleting_an_organization_of_70_000_members(app, tenant, receiver):
    """More members than a statement may carry parameters (PostgreSQL: 65 535): the delete moves
    each member's version on in one statement without a parameter per member, and its notes list
    them all, 500 a note."""
    key, _ = make_key(app, tenant.public_id)
    api = Api(app, key, tenant)
    add_endpoint(app, tenant, receiver, "user.updated")
    assert api.put("/organizations/huge", json={"name": "Huge"}).status_code == 201
    add_members(app, tenant, "huge", 70_000, signed=True)
    answer = api.delete("/organizations/huge")
    assert answer.status_code == 200 and answer.get_json()["deleted"] == {"organizations": 1, "memberships": 70_000}
    with app.app_context():
        versions = db.session.execute(text("SELECT version, count(*) FROM end_user GROUP BY version")).all()
        listed = sum(len(json.loads(p)["data"]["users"]) for p in db.session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.type == "signet.members_changed")))
        db.session.remove()
    assert [tuple(v) for v in versions] == [(2, 70_000)] and listed == 70_000


def internal_types(app) -> list[str]:
    with app.app_context():
        rows = db.session.scalars(select(OutboxEvent.type).where(OutboxEvent.type.like("signet.%"))).all()
        db.session.remove()
    return list(rows)


def test_no_subscriber_no_internal_event(app, tenant, receiver):
    seeded(app, tenant)
    add_endpoint(app, tenant, receiver, "user.created")
    _set_user(tenant.api_client(), {"jwt": tenant.sign({"id": "u-2", "organizations": [{"id": "o-1", "name": "New"}]},
                                                       "EdDSA")})
    assert internal_types(app) == []
