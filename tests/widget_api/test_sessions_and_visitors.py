"""Anonymous visitors, their merge into a user, switching users, logout and forged sessions."""
from __future__ import annotations

import base64
import json
import time
import zlib
from datetime import datetime, timezone

import pytest

from webapp.extensions import db
from webapp.models import Conversation, EndUser, RevokedSession
from webapp.services.end_users import sessions

from ..conftest import make_app
from .conftest import assert_error, call, count, fetch, identify, settings, sign

USER_KEYS = {"id", "email", "name", "avatarUrl", "attrs", "organizations", "verified", "anonymous"}


def listed(client, session) -> list[str]:
    response = call(client, "GET", "conversations", session=session)
    assert response.status_code == 200, response.get_json()
    return [c["id"] for c in response.get_json()["conversations"]]


def start(client, session, body="Hello") -> str:
    response = call(client, "POST", "conversations", {"body": body}, session=session)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def visitor_header(visitor_id: str) -> dict:
    return {"X-Signet-Visitor": visitor_id}


def test_anonymous_visitor(app, client):
    data = identify(client, {"id": None})
    assert set(data) == {"user", "visitorId", "session", "sessionExpiresAt", "sessionExpiresIn"}
    assert abs(data["sessionExpiresIn"] - 24 * 3600) < 10  # the same end, in seconds from now (issue 16)
    assert set(data["user"]) == USER_KEYS
    assert data["user"]["id"] is None and data["user"]["anonymous"] is True and data["user"]["verified"] is False
    expires = datetime.strptime(data["sessionExpiresAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert abs(expires.timestamp() - (time.time() + 24 * 3600)) < 10
    assert data["visitorId"] and data["session"]
    assert count(app, EndUser) == 0  # nothing stored until the visitor starts a conversation
    assert listed(client, data["session"]) == []


def test_a_valid_visitor_id_is_kept(client):
    first = identify(client, {"id": None})
    again = identify(client, {"id": None}, headers=visitor_header(first["visitorId"]))
    assert again["visitorId"] == first["visitorId"] and again["session"] != first["session"]
    named = identify(client, {"id": "u-1"}, headers=visitor_header(first["visitorId"]))
    assert named["visitorId"] == first["visitorId"]


def other_servers_visitor(tmp_path):
    (tmp_path / "other").mkdir()
    other = make_app(tmp_path / "other")
    with other.app_context():
        value = sessions.new_visitor_id()
    with other.app_context():
        db.engine.dispose()
    return value


@pytest.mark.parametrize("make", [
    lambda real, tmp: "made-up-visitor-id-123456",
    lambda real, tmp: real[:-2] + ("AA" if not real.endswith("AA") else "BB"),
    lambda real, tmp: "x" * 300,
    lambda real, tmp: other_servers_visitor(tmp),
], ids=["made-up", "tampered", "oversized", "other-server"])
def test_an_unknown_or_forged_visitor_id_gets_a_new_one(client, tmp_path, make):
    real = identify(client, {"id": None})["visitorId"]
    sent = make(real, tmp_path)
    data = identify(client, {"id": None}, headers=visitor_header(sent))
    assert data["visitorId"] not in (sent, real)
    named = identify(client, {"id": "u-1"}, headers=visitor_header(sent))
    assert named["visitorId"] not in (sent, real)


def test_anonymous_conversations_move_to_the_user_who_identifies(app, client):
    visitor = identify(client, {"id": None})
    conversation = start(client, visitor["session"])
    assert count(app, EndUser, EndUser.anonymous.is_(True)) == 1
    user = identify(client, {"id": "u-1"}, headers=visitor_header(visitor["visitorId"]))
    assert listed(client, user["session"]) == [conversation]
    [row] = fetch(app, EndUser)
    assert row.external_id == "u-1" and row.anonymous is False  # the visitor's row is gone
    [stored] = fetch(app, Conversation)
    assert stored.user_id == row.id
    assert listed(client, visitor["session"]) == []  # the old anonymous session reaches nothing now


@pytest.mark.parametrize("how", ["unsigned", "signed", "login-only"])
def test_a_returning_user_takes_a_new_visitors_conversations(app, client, tenant, how):
    """The user exists and nothing about them changes: the merge alone must still happen."""
    settings(app, tenant, login_links_enabled=True)
    identify(client, {"jwt": sign({"id": "u-1", "email": "jane@example.com"}, tenant)} if how != "unsigned"
             else {"id": "u-1", "email": "jane@example.com"})
    visitor = identify(client, {"id": None})
    conversation = start(client, visitor["session"])
    body = {"unsigned": {"id": "u-1"}, "signed": {"jwt": sign({"id": "u-1"}, tenant)},
            "login-only": {"externalAuthCode": sign({"email": "jane@example.com"}, tenant)}}[how]
    user = identify(client, body, headers=visitor_header(visitor["visitorId"]))
    assert user["user"]["id"] == "u-1" and listed(client, user["session"]) == [conversation]
    assert count(app, EndUser) == 1


def test_switching_users_never_shows_the_previous_users_conversations(app, client):
    visitor = identify(client, {"id": None})
    vid = visitor_header(visitor["visitorId"])
    anonymous_conversation = start(client, visitor["session"])
    alice = identify(client, {"id": "alice"}, headers=vid)
    alice_conversation = start(client, alice["session"])
    bob = identify(client, {"id": "bob"}, headers=vid)
    assert listed(client, bob["session"]) == []
    assert set(listed(client, alice["session"])) == {anonymous_conversation, alice_conversation}
    response = call(client, "GET", f"conversations/{alice_conversation}/messages", session=bob["session"])
    assert_error(response, 404, "not_found")


def test_logout_revokes_the_session(app, client):
    data = identify(client, {"id": "u-1"})
    start(client, data["session"])
    response = call(client, "POST", "logout", {}, session=data["session"])
    assert response.status_code == 204 and response.get_data() == b""
    assert count(app, RevokedSession) == 1
    for method, path, body in (("GET", "conversations", None), ("POST", "conversations", {"body": "x"}),
                               ("GET", "dashboard", None), ("POST", "logout", {})):
        assert_error(call(client, method, path, body, session=data["session"]), 401, "session_invalid")
    fresh = identify(client, {"id": "u-1"})  # identifying again starts a new session
    assert len(listed(client, fresh["session"])) == 1


def tampered(token: str, **changes) -> str:
    """The session's payload changed, its signature kept."""
    payload, signature = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload.lstrip(".")) % 4))
    data = json.loads(zlib.decompress(raw) if payload.startswith(".") else raw)  # itsdangerous may compress
    data.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{raw}.{signature}"


def test_forged_sessions_are_refused(app, client, tenant, tmp_path):
    alice = identify(client, {"id": "alice"})
    start(client, alice["session"])
    eve = identify(client, {"id": "eve"})
    [alice_row] = fetch(app, EndUser, EndUser.external_id == "alice")
    forged = [
        tampered(eve["session"], u=alice_row.id),
        tampered(eve["session"], exp=int(time.time()) + 10 * 86400),
        eve["session"][:-3] + ("abc" if not eve["session"].endswith("abc") else "xyz"),
        eve["session"] + "x",
    ]
    (tmp_path / "other").mkdir()
    other = make_app(tmp_path / "other")
    with other.app_context():
        forged.append(sessions.issue(tenant, user=alice_row, how=sessions.EMAIL)[0])
        db.engine.dispose()
    for token in forged:
        assert_error(call(client, "GET", "conversations", session=token), 401, "session_invalid")
    assert len(listed(client, alice["session"])) == 1  # the real one still works


def test_a_session_reaches_only_its_own_tenant(app, client, tenant, other_tenant):
    ours = identify(client, {"id": "u-1"})
    conversation = start(client, ours["session"])
    theirs = identify(client, {"id": "u-1"}, tenant=other_tenant)
    for session in (ours["session"], theirs["session"]):
        target = other_tenant if session is ours["session"] else tenant
        for method, path in (("GET", "conversations"), ("GET", f"conversations/{conversation}/messages"),
                             ("GET", "dashboard")):
            assert_error(call(client, method, path, session=session, tenant=target), 401, "session_invalid")
    # The same external id in the other workspace is another person: none of our conversations.
    response = call(client, "GET", "conversations", session=theirs["session"], tenant=other_tenant)
    assert response.status_code == 200 and response.get_json() == {"conversations": []}
    response = call(client, "GET", f"conversations/{conversation}/messages", session=theirs["session"],
                    tenant=other_tenant)
    assert_error(response, 404, "not_found")


def test_sessions_and_visitor_ids_read_in_either_encoding(app, client, tenant):
    """Small payloads are issued uncompressed; larger ones, and every token issued before that
    change (itsdangerous compressing whenever zlib wins), are still accepted."""
    from itsdangerous import URLSafeSerializer

    plain = identify(client, {"id": "u-1"})
    assert not plain["session"].startswith(".") and not plain["visitorId"].startswith(".")
    [row] = fetch(app, EndUser, EndUser.external_id == "u-1")
    secret = app.config["SECRET_KEY"]
    # The same signatures as itsdangerous' defaults, both ways.
    assert URLSafeSerializer(secret, salt="signet.session.v1").loads(plain["session"])["u"] is not None
    assert URLSafeSerializer(secret, salt="signet.visitor.v1").loads(plain["visitorId"])
    for salt, token in (("signet.session.v1", plain["session"]), ("signet.visitor.v1", plain["visitorId"])):
        payload = token.rpartition(".")[0]  # the library signs it into this very string
        assert URLSafeSerializer(secret, salt=salt).make_signer().sign(payload).decode() == token
    before = URLSafeSerializer(secret, salt="signet.session.v1").dumps(
        {"t": tenant.id, "u": row.id, "v": None, "sid": "s" * 24, "exp": int(time.time()) + 600,
         "ctx": {"role": "admin", "note": "x" * 200}})
    assert before.startswith(".")  # compressed, as every session was before
    assert listed(client, before) == []
    visitor = URLSafeSerializer(secret, salt="signet.visitor.v1").dumps("v" * 40)
    assert visitor.startswith(".")
    assert identify(client, {"id": None}, headers=visitor_header(visitor))["visitorId"] == visitor
    # A token near the 8 KiB limit can carry a ctx of several KiB: its session is compressed.
    big = identify(client, {"jwt": sign({"id": "u-2", "ctx": {"role": "admin", "blob": "é" * 900}}, tenant)})
    assert big["session"].startswith(".") and len(big["session"]) < sessions.MAX_TOKEN_CHARS
    assert listed(client, big["session"]) == []
