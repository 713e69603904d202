"""`signet seed`: bulk synthetic users and conversations (API.md §6, §7)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Conversation, EndUser, Message, Organization, OrgMembership
from webapp.services.workspace import tenants

from .conftest import text_of


@pytest.fixture
def seed(app):
    runner = app.test_cli_runner()

    def run(*args):
        return runner.invoke(args=["signet", "seed", *map(str, args)])

    return run


def count(app, model, tenant_id: int, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id, *where))


def test_seed_makes_users_conversations_and_messages(app, ws, seed):
    result = seed(ws.public_id, "--users", 50, "--conversations", 12, "--messages-per-conversation", 3)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["users"] == 50 and out["first_user"] == "user-1" and out["last_user"] == "user-50"
    assert out["conversations"] == 12 and out["messages"] == 36 and out["seconds"] >= 0
    assert "users: 50 / 50" in result.stderr and "conversations: 12 / 12" in result.stderr

    assert count(app, EndUser, ws.id) == 50
    with app.app_context():
        users = {u.external_id: u for u in db.session.scalars(select(EndUser).where(EndUser.tenant_id == ws.id))}
        assert set(users) == {f"user-{n}" for n in range(1, 51)}
        assert all(u.email == f"{u.external_id}@example.com" and u.name for u in users.values())
        assert users["user-7"].attrs.keys() == {"plan", "seats", "beta"}
        kinds = {(u.verified, u.verified_via) for u in users.values()}
        assert kinds == {(True, "token"), (True, "login_link"), (False, None)}
        assert {u.created_via for u in users.values()} == {"widget", "login_link", "email"}
        orgs = db.session.scalar(select(func.count()).select_from(Organization).where(Organization.tenant_id == ws.id))
        assert orgs == out["organizations"] >= 3
        assert db.session.scalar(select(func.count()).select_from(OrgMembership)) == out["memberships"] > 0
        conversation = db.session.scalars(select(Conversation).where(Conversation.tenant_id == ws.id)).first()
        authors = db.session.scalars(select(Message.author).where(Message.conversation_id == conversation.id)
                                     .order_by(Message.id)).all()
        assert authors == ["user", "staff", "user"]
        assert conversation.unread_by_staff is True  # the user wrote last
    assert count(app, Conversation, ws.id) == 12 and count(app, Message, ws.id) == 36


def test_seeded_users_show_in_the_dashboard(ws, seed, staff):
    assert seed(ws.public_id, "--users", 30, "--conversations", 5).exit_code == 0
    html = text_of(staff.get("/users?q=user-7"))
    assert "<code>user-7</code>" in html and "user-7@example.com" in html
    assert "<code>user-30</code>" in text_of(staff.get("/users"))  # seen most recently
    inbox = text_of(staff.get("/inbox?status=all"))
    assert inbox.count("data-conversation=") == 5


def test_seeding_again_continues_the_numbering(app, ws, seed):
    assert seed(ws.public_id, "--users", 10, "--conversations", 2).exit_code == 0
    ws.set_user({"id": "user-abc"})  # not a seeded number: ignored when counting
    result = seed(ws.public_id, "--users", 5, "--conversations", 2)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["first_user"], out["last_user"]) == ("user-11", "user-15")
    assert count(app, EndUser, ws.id) == 16
    assert count(app, Organization, ws.id) == 3  # the seed organizations are reused, not duplicated


def test_conversations_only_go_to_existing_users(app, ws, seed):
    ws.set_user({"id": "real-user"})
    result = seed(ws.public_id, "--users", 0, "--conversations", 3)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["first_user"] is None
    assert count(app, Conversation, ws.id) == 3


@pytest.mark.parametrize("args, message", [
    (("--users", 0, "--conversations", 1), "no users"),
    (("--users", -1), "Invalid value"),
    (("--users", 5, "--messages-per-conversation", 0), "Invalid value"),
])
def test_refusals(app, ws, seed, args, message):
    result = seed(ws.public_id, *args)
    assert result.exit_code != 0 and message in result.output
    assert count(app, EndUser, ws.id) == 0 and count(app, Conversation, ws.id) == 0
    assert count(app, Organization, ws.id) == 0


def test_unknown_tenant(seed):
    result = seed("nope-123", "--users", 1)
    assert result.exit_code == 1 and "No tenant with id 'nope-123'" in result.stderr and result.stdout == ""


def test_seat_limit_is_respected(app, ws, seed):
    with app.app_context():
        tenants.update_settings(tenants.get_tenant(ws.public_id), tenants.Settings(seat_limit=10))
    result = seed(ws.public_id, "--users", 11)
    assert result.exit_code == 1 and "seat limit (10)" in result.stderr
    assert count(app, EndUser, ws.id) == 0
    assert seed(ws.public_id, "--users", 10).exit_code == 0


def test_other_tenants_are_untouched(app, ws, other_ws, seed):
    other_ws.set_user({"id": "user-1"})
    assert seed(ws.public_id, "--users", 5).exit_code == 0
    assert count(app, EndUser, other_ws.id) == 1 and count(app, EndUser, ws.id) == 5
