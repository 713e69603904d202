"""Issue 16: how each message's sender was identified (a visitor who becomes a verified user),
the anonymous visitors setting, the session lifetime setting, and the widget's locale files."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Member, Message
from webapp.services.messaging import conversations

from ..conftest import PASSWORD, make_app, provision
from ..helpers import login, post_form
from .conftest import call, count, identify, set_user, settings, sign

LOCALES = Path(__file__).resolve().parents[2] / "static" / "widget" / "locales"


def post(client, session, path, body):
    response = call(client, "POST", path, body, session=session)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def senders(app, tenant) -> list[tuple]:
    with app.app_context():
        rows = db.session.scalars(select(Message).where(Message.tenant_id == tenant.id).order_by(Message.id)).all()
        return [(m.author, m.body, m.sender_via, m.sender_key) for m in rows]


def test_a_visitor_who_becomes_a_verified_user_is_recorded_per_message_and_flagged_in_the_inbox(app, client, tenant):
    visitor = identify(client, {"id": None})
    cid = post(client, visitor["session"], "conversations", {"body": "Hi, anonymous here"})["id"]
    unsigned = identify(client, {"id": "kim"}, headers={"X-Signet-Visitor": visitor["visitorId"]})
    post(client, unsigned["session"], f"conversations/{cid}/messages", {"body": "Unsigned now"})
    verified = identify(client, {"jwt": sign({"id": "kim"}, tenant)}, headers={"X-Signet-Visitor": visitor["visitorId"]})
    assert verified["user"]["verified"] is True
    post(client, verified["session"], f"conversations/{cid}/messages", {"body": "Signed in for real"})
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.email == tenant.owner))
        conversations.staff_reply(tenant.id, member, cid, "Welcome back")
    assert senders(app, tenant) == [
        ("user", "Hi, anonymous here", "anonymous", None),
        ("user", "Unsigned now", "unsigned", None),
        ("user", "Signed in for real", "token", tenant.secret_kid),
        ("staff", "Welcome back", "staff", tenant.owner),
    ]
    # The widget's own answer does not carry it.
    listed = call(client, "GET", f"conversations/{cid}/messages", session=verified["session"]).get_json()["messages"]
    assert all("sender" not in m for m in listed)
    staff = app.test_client()
    assert login(staff, tenant.owner, PASSWORD).status_code in (302, 200)
    page = staff.get(f"/inbox/{cid}").get_data(as_text=True)
    assert 'id="mixed-senders"' in page
    for label in ("Anonymous visitor", "Unsigned data", f"Verified token (key {tenant.secret_kid})",
                  f"Staff ({tenant.owner})"):
        assert label in page, label
    polled = staff.get(f"/inbox/{cid}/messages.json").get_json()["messages"]
    assert [(m["sender"], m["senderVerified"]) for m in polled] == [
        ("Anonymous visitor", False), ("Unsigned data", False), (f"Verified token (key {tenant.secret_kid})", True),
        (f"Staff ({tenant.owner})", None)]


def test_a_conversation_of_one_verified_sender_is_not_flagged(app, client, tenant):
    verified = identify(client, {"jwt": sign({"id": "lee"}, tenant)})
    cid = post(client, verified["session"], "conversations", {"body": "Only me"})["id"]
    post(client, verified["session"], f"conversations/{cid}/messages", {"body": "Still me"})
    staff = app.test_client()
    login(staff, tenant.owner, PASSWORD)
    page = staff.get(f"/inbox/{cid}").get_data(as_text=True)
    assert "Verified token" in page and 'id="mixed-senders"' not in page


def test_anonymous_visitors_not_allowed(app, client, tenant):
    settings(app, tenant, anonymous_visitors=False, anonymous_text="Log in to your Acme account to chat.")
    response = set_user(client, {"id": None})
    body = response.get_json()
    assert response.status_code == 403 and body["error"]["code"] == "anonymous_not_allowed", body
    assert body["error"]["visitorText"] == "Log in to your Acme account to chat."
    assert count(app, Message) == 0
    # Identified users are unaffected; allowing visitors again lets {id: null} in.
    assert identify(client, {"jwt": sign({"id": "max"}, tenant)})["user"]["id"] == "max"
    settings(app, tenant, anonymous_visitors=True)
    assert identify(client, {"id": None})["user"]["anonymous"] is True


def test_turning_anonymous_visitors_off_ends_their_sessions_at_once(app, client, tenant):
    """A visitor's session issued while allowed is refused (401 session_invalid) the moment the
    tenant stops allowing anonymous visitors; a verified user's session carries on."""
    visitor = identify(client, {"id": None})["session"]
    user = identify(client, {"jwt": sign({"id": "max"}, tenant)})["session"]
    assert call(client, "GET", "conversations", session=visitor).status_code == 200
    settings(app, tenant, anonymous_visitors=False)
    refused = call(client, "GET", "conversations", session=visitor)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "session_invalid"
    assert call(client, "GET", "conversations", session=user).status_code == 200


def test_anonymous_visitors_from_the_cli_and_the_identity_page(app, tenant):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["signet", "tenant", "set", tenant.public_id, "--anonymous-visitors", "off",
                                 "--anonymous-text", "Sign in first"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output.strip().splitlines()[-1])
    assert shown["anonymous_visitors"] == "off" and shown["anonymous_text"] == "Sign in first"
    assert set_user(tenant.api_client(), {"id": None}).status_code == 403
    staff = app.test_client()
    login(staff, tenant.owner, PASSWORD)
    page = staff.get("/settings/identity").get_data(as_text=True)
    assert "Allow anonymous visitors" in page and "Sign in first" in page
    response = post_form(staff, "/settings/identity", {"verification_mode": "optional", "audience": "signet-widget",
                                                       "anonymous_visitors": "y", "anonymous_text": ""})
    assert response.status_code in (200, 302)
    assert set_user(tenant.api_client(), {"id": None}).status_code == 200


def test_the_widget_session_lifetime_is_a_setting(tmp_path, monkeypatch, ed_key):
    monkeypatch.setenv("SIGNET_WIDGET_SESSION_SECONDS", "90")
    short = make_app(tmp_path)
    workspace = provision(short, ed_key)
    data = workspace.set_user({"id": None})
    assert abs(data["sessionExpiresIn"] - 90) <= 2
    assert abs(time.mktime(time.strptime(data["sessionExpiresAt"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
               - (time.time() + 90)) < 5


def test_every_locale_file_has_exactly_the_english_keys_and_placeholders():
    english = json.loads((LOCALES / "en.json").read_text(encoding="utf-8"))
    files = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in LOCALES.glob("*.json")}
    assert {"en", "de", "fr", "es", "pt", "ja"} <= set(files)
    for lang, strings in files.items():
        assert set(strings) == set(english), (lang, set(strings) ^ set(english))
        for key, text in strings.items():
            assert isinstance(text, str) and text.strip(), (lang, key)
            assert set(re.findall(r"\{\w+\}", text)) == set(re.findall(r"\{\w+\}", english[key])), (lang, key)
        if lang != "en":
            assert (LOCALES / f"{lang}.js").exists(), f"run static/widget/build.py for {lang}"
