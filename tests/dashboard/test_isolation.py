"""Tenant isolation on every new page and action, roles, and CSRF on every new form."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Conversation, EndUser, Membership, Message, Organization, Tenant, VerificationKeyRow

from ..conftest import PASSWORD
from ..helpers import csrf_of, login
from .conftest import post, text_of


def settings_state(app, ws) -> tuple:
    """Everything a settings form could change for the workspace: its row, keys and team."""
    with app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.id == ws.id))
        columns = tuple(getattr(tenant, c.key) for c in Tenant.__table__.columns)
        keys = db.session.execute(select(VerificationKeyRow.kid, VerificationKeyRow.revoked_at,
                                         VerificationKeyRow.grace_ends_at).order_by(VerificationKeyRow.id)).all()
        team = db.session.execute(select(Membership.member_id, Membership.role).where(Membership.tenant_id == ws.id)
                                  .order_by(Membership.id)).all()
        return columns, [tuple(k) for k in keys], [tuple(m) for m in team]


def state(app) -> tuple:
    """Everything the inbox and its actions could change, for every tenant."""
    with app.app_context():
        conversations = db.session.execute(select(
            Conversation.public_id, Conversation.status, Conversation.unread_by_staff,
            Conversation.staff_read_message_id, Conversation.updated_at).order_by(Conversation.id)).all()
        messages = db.session.scalar(select(func.count()).select_from(Message))
        users = db.session.execute(select(EndUser.id, EndUser.last_seen_at, EndUser.attrs).order_by(EndUser.id)).all()
        return [tuple(c) for c in conversations], messages, [tuple(u) for u in users]


@pytest.fixture
def theirs(app, other_ws):
    """Tenant B's user, organization and unread conversation: what tenant A must never reach."""
    data = other_ws.signed_user({"id": "b-secret-user", "email": "b-only@globex.example", "name": "Bee Only",
                                 "organizations": [{"id": "b-org", "name": "Globex Secret Org"}]})
    conversation = other_ws.start(data["session"], "B-only question")
    with app.app_context():
        org = db.session.scalar(select(Organization.id).where(Organization.external_id == "b-org"))
    return {"user": other_ws.row_id("b-secret-user"), "org": org, "conversation": conversation,
            "session": data["session"]}


def test_member_of_a_cannot_reach_b(app, ws, staff, other_ws, theirs):
    mine = ws.user_with_conversation("a-user", "A question")[1]
    staff.get(f"/inbox/{mine}")  # reading A's own thread is a change, made before the snapshot
    before = state(app)
    cid, uid, oid = theirs["conversation"], theirs["user"], theirs["org"]

    for path in (f"/users/{uid}", f"/organizations/{oid}", f"/inbox/{cid}", f"/inbox?c={cid}",
                 f"/inbox/{cid}/messages.json", f"/inbox/{cid}?status=all", f"/inbox/{cid}/messages.json?after=x"):
        assert staff.get(path).status_code == 404, path
    for action, data in (("reply", {"body": "leak?"}), ("close", {}), ("reopen", {})):
        response = post(staff, f"/inbox/{cid}/{action}", data, page="/inbox")
        assert response.status_code == 404, action
    assert staff.get(f"/inbox/updates.json?ids={cid},{mine}").get_json()["conversations"][0]["id"] == mine
    assert len(staff.get(f"/inbox/updates.json?ids={cid}").get_json()["conversations"]) == 0

    for path in ("/inbox", "/inbox?status=all", "/users", "/users?q=b", "/users?q=b-secret",
                 "/users?filter=verified", "/organizations", "/organizations?q=glo", "/users.csv",
                 "/users.csv?q=b-secret", f"/inbox/{mine}", f"/users/{ws.row_id('a-user')}"):
        html = text_of(staff.get(path))
        for secret in ("b-secret-user", "b-only@globex.example", "Bee Only", "Globex Secret Org", cid,
                       "B-only question"):
            assert secret not in html, (path, secret)

    assert state(app) == before
    # B's own widget still sees no staff message.
    assert [m["author"] for m in other_ws.widget_messages(theirs["session"], cid)] == ["user"]


def test_a_cursor_names_no_tenant(app, ws, staff, other_ws, theirs):
    """A cursor carries only sort values: replaying one made elsewhere shows this tenant's rows."""
    from webapp.dashboard import paging

    cursor = paging.encode([theirs_row_seen(app, theirs["user"]), theirs["user"]], 2)
    html = text_of(staff.get(f"/users?after={cursor}"))
    assert "b-secret-user" not in html


def theirs_row_seen(app, user_id: int):
    with app.app_context():
        return db.session.scalar(select(EndUser.last_seen_at).where(EndUser.id == user_id))


@pytest.mark.parametrize("path", ["/inbox", "/users", "/organizations", "/users.csv"])
def test_agents_use_the_people_pages(as_role, path):
    agent = as_role("agent")
    assert agent.get(path).status_code == 200


def test_agents_reply_close_and_open_users_but_settings_stay_403(app, ed_key, factory):
    from .conftest import make_workspace

    ws = make_workspace(app, ed_key)
    email = factory.member(ws, "agent")
    agent = app.test_client()
    assert login(agent, email, PASSWORD).status_code == 302
    session, conversation = ws.user_with_conversation("u1", name="Agent Case")
    assert agent.get(f"/inbox/{conversation}").status_code == 200
    assert post(agent, f"/inbox/{conversation}/reply", {"body": "Agent here"}).status_code == 302
    assert ws.widget_messages(session, conversation)[-1]["body"] == "Agent here"
    assert post(agent, f"/inbox/{conversation}/close").status_code == 302
    assert agent.get(f"/users/{ws.row_id('u1')}").status_code == 200
    assert agent.get(f"/inbox/{conversation}/messages.json").status_code == 200
    for path in ("/settings/", "/settings/workspace", "/settings/team", "/settings/keys", "/settings/identity",
                 "/settings/debugger", "/settings/install", "/settings/anything"):
        assert agent.get(path).status_code == 403, path
    # Every settings POST, with a valid CSRF token so the role check is what answers.
    token = csrf_of(text_of(agent.get("/inbox")))
    before = settings_state(app, ws)
    for path in ("/settings/workspace", "/settings/install", "/settings/keys/secret", "/settings/keys/public",
                 "/settings/team", "/settings/anything"):
        form = {"csrf_token": token, "allowed_origins": "https://evil.example", "name": "Taken", "pem": "x",
                "email": "evil@example.com", "role": "owner", "verification_mode": "optional"}
        assert agent.post(path, data=form).status_code == 403, path
    assert settings_state(app, ws) == before
    assert "Settings</a>" not in text_of(agent.get("/inbox"))


@pytest.mark.parametrize("token", [None, "", "forged"])
@pytest.mark.parametrize("action, data", [("reply", {"body": "csrf?"}), ("close", {}), ("reopen", {})])
def test_new_forms_refuse_missing_or_wrong_csrf(app, ws, staff, token, action, data):
    _, conversation = ws.user_with_conversation("u1")
    staff.get(f"/inbox/{conversation}")  # read: the state below is the settled one
    if action == "reopen":
        post(staff, f"/inbox/{conversation}/close")
    before = state(app)
    body = dict(data) if token is None else {**data, "csrf_token": token}
    response = staff.post(f"/inbox/{conversation}/{action}", data=body)
    assert response.status_code == 400
    assert "form expired" in text_of(response)
    assert state(app) == before


def test_every_new_post_form_carries_a_csrf_field(ws, staff):
    _, conversation = ws.user_with_conversation("u1")
    html = text_of(staff.get(f"/inbox/{conversation}"))
    forms = re.findall(r'<form\b[^>]*\bmethod="post".*?</form>', html, re.S | re.I)
    assert len(forms) >= 2  # reply and close at least: the check below must see them
    for form in forms:
        assert 'name="csrf_token"' in form
