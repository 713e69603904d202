"""Conversations and the embedded dashboard (API.md §3 "Conversations", §4 `ctx`): shapes and reach."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Conversation, Member, Message
from webapp.services.messaging import conversations

from .conftest import assert_error, call, count, fetch, identify, sign

CONVERSATION_KEYS = {"id", "subject", "status", "updatedAt", "lastMessage"}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def start(client, session, body="Hello there", **extra):
    response = call(client, "POST", "conversations", {"body": body, **extra}, session=session)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def messages(client, session, conversation_id, after=None):
    path = f"conversations/{conversation_id}/messages" + (f"?after={after}" if after else "")
    response = call(client, "GET", path, session=session)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["messages"]


def staff_reply(app, tenant, email, conversation_id, body):
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.email == email))
        return conversations.staff_reply(tenant.id, member, conversation_id, body)


def test_conversation_shapes(app, client, tenant, factory):
    session = identify(client, {"id": "u-1"})["session"]
    assert call(client, "GET", "conversations", session=session).get_json() == {"conversations": []}
    created = start(client, session, "Billing question\nMy card was charged twice.", connectionId="billing")
    assert set(created) == CONVERSATION_KEYS and ISO.fullmatch(created["updatedAt"])
    assert created["subject"] == "Billing question" and created["status"] == "open"
    first = created["lastMessage"]
    assert set(first) == {"id", "author", "body", "createdAt"} and first["author"] == "user"
    assert first["body"] == "Billing question\nMy card was charged twice."
    [row] = fetch(app, Conversation)
    assert row.connection_id == "billing" and row.public_id == created["id"]

    posted = call(client, "POST", f"conversations/{created['id']}/messages", {"body": "Any news?"}, session=session)
    assert posted.status_code == 201
    second = posted.get_json()
    assert set(second) == {"id", "author", "body", "createdAt"} and second["author"] == "user"
    assert ISO.fullmatch(second["createdAt"])

    email = factory.member(tenant, "agent", email="jane.doe@example.com")
    reply = staff_reply(app, tenant, email, created["id"], "Refunded!")
    listed = messages(client, session, created["id"])
    assert [m["id"] for m in listed] == [first["id"], second["id"], reply["id"]]
    assert listed[2] == {"id": reply["id"], "author": "staff", "body": "Refunded!", "createdAt": reply["createdAt"],
                         "staffName": "Jane Doe"}
    assert all("staffName" not in m for m in listed[:2])
    assert messages(client, session, created["id"], after=second["id"]) == [listed[2]]
    assert messages(client, session, created["id"], after=reply["id"]) == []

    [summary] = call(client, "GET", "conversations", session=session).get_json()["conversations"]
    assert set(summary) == CONVERSATION_KEYS and summary["lastMessage"] == listed[2]


def test_newest_conversation_first_and_a_reply_reopens(client):
    session = identify(client, {"id": "u-1"})["session"]
    older, newer = start(client, session, "first")["id"], start(client, session, "second")["id"]
    assert [c["id"] for c in call(client, "GET", "conversations", session=session).get_json()["conversations"]] == \
        [newer, older]
    call(client, "POST", f"conversations/{older}/messages", {"body": "bump"}, session=session)
    assert call(client, "GET", "conversations", session=session).get_json()["conversations"][0]["id"] == older


@pytest.mark.parametrize("body, field", [({"body": ""}, "body"), ({"body": "   "}, "body"), ({}, "body"),
                                         ({"body": 5}, "body"), ({"body": "x" * 10_001}, "body"),
                                         ({"body": "hi", "connectionId": ""}, "connectionId"),
                                         ({"body": "hi", "connectionId": 7}, "connectionId")])
def test_message_body_rules(app, client, body, field):
    session = identify(client, {"id": "u-1"})["session"]
    assert_error(call(client, "POST", "conversations", body, session=session), 400, "invalid_field", field)
    assert count(app, Conversation) == 0


def test_not_found(app, client):
    alice = identify(client, {"id": "alice"})["session"]
    bob = identify(client, {"id": "bob"})["session"]
    a1 = start(client, alice)
    a2 = start(client, alice, "other")
    b1 = start(client, bob)
    for session, conversation in ((bob, a1["id"]), (alice, b1["id"]), (alice, "conv_madeup"), (alice, "1")):
        assert_error(call(client, "GET", f"conversations/{conversation}/messages", session=session), 404, "not_found")
        response = call(client, "POST", f"conversations/{conversation}/messages", {"body": "x"}, session=session)
        assert_error(response, 404, "not_found")
    for after in (a2["lastMessage"]["id"], b1["lastMessage"]["id"], "msg_madeup"):
        path = f"conversations/{a1['id']}/messages?after={after}"
        assert_error(call(client, "GET", path, session=alice), 404, "not_found")
    assert count(app, Message) == 3
    one, two = identify(client, {"id": None}), identify(client, {"id": None})  # two anonymous visitors
    theirs = start(client, one["session"])["id"]
    assert_error(call(client, "GET", f"conversations/{theirs}/messages", session=two["session"]), 404, "not_found")
    assert call(client, "GET", "conversations", session=two["session"]).get_json() == {"conversations": []}


@pytest.fixture
def org_world(app, client, tenant, other_tenant):
    """acme: admin + mate (members), outsider in another org; the other tenant mirrors the ids.
    Memberships come from signed data: only those widen a ctx scope."""
    acme = [{"id": "acme", "name": "Acme"}]
    people = {
        "admin": identify(client, {"jwt": sign({"id": "admin", "organizations": acme + [{"id": "side", "name": "Side"}]},
                                               tenant)}),
        "mate": identify(client, {"jwt": sign({"id": "mate", "organizations": acme}, tenant)}),
        "outsider": identify(client, {"jwt": sign({"id": "outsider", "organizations": [{"id": "globex", "name": "Globex"}]},
                                                  tenant)}),
    }
    convs = {name: start(client, data["session"], f"from {name}")["id"] for name, data in people.items()}
    foreign = identify(client, {"id": "mate", "organizations": acme}, tenant=other_tenant)
    call(client, "POST", "conversations", {"body": "foreign"}, session=foreign["session"], tenant=other_tenant)
    return convs


def dashboard(client, tenant, ctx, user_id="admin"):
    data = identify(client, {"jwt": sign({"id": user_id, "ctx": ctx} if ctx is not None else {"id": user_id}, tenant)})
    response = call(client, "GET", "dashboard", session=data["session"])
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("ctx, scope, expected", [
    ({"role": "admin", "orgId": "acme"}, "organization", {"admin", "mate"}),
    (None, "user", {"admin"}),
    ({"role": "member", "orgId": "acme"}, "user", {"admin"}),
    ({"role": "admin"}, "user", {"admin"}),
    ({"role": "admin", "orgId": "globex"}, "user", {"admin"}),  # exists, but admin is not in it
    ({"role": "admin", "orgId": "nope"}, "user", {"admin"}),
    ({"role": "Admin", "orgId": "acme"}, "user", {"admin"}),
], ids=["admin-of-own-org", "no-ctx", "not-admin", "no-org", "org-not-theirs", "unknown-org", "role-case"])
def test_dashboard_reach(client, tenant, org_world, ctx, scope, expected):
    shown = dashboard(client, tenant, ctx)
    assert shown["scope"] == scope
    assert {c["id"] for c in shown["conversations"]} == {org_world[name] for name in expected}
    assert {c["user"]["id"] for c in shown["conversations"]} == expected  # never the other tenant's "mate"
    if scope == "organization":
        assert shown["organization"] == {"id": "acme", "name": "Acme"}


def test_dashboard_of_a_plain_member_and_an_anonymous_visitor(client, tenant, org_world):
    assert {c["id"] for c in dashboard(client, tenant, None, "mate")["conversations"]} == {org_world["mate"]}
    anonymous = identify(client, {"id": None})
    assert call(client, "GET", "dashboard", session=anonymous["session"]).get_json()["conversations"] == []


def test_dashboard_follows_membership_changes(client, tenant, org_world):
    identify(client, {"jwt": sign({"id": "admin", "organizations": [{"id": "side", "name": "Side"}]}, tenant)})
    shown = dashboard(client, tenant, {"role": "admin", "orgId": "acme"})
    assert shown["scope"] == "user" and {c["id"] for c in shown["conversations"]} == {org_world["admin"]}
