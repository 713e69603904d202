"""The user details panel beside a thread and on the user page: who this is, and how sure we are."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from webapp.extensions import db
from webapp.models import EndUser

from .conftest import text_of

ORGS = [{"id": "org-1", "name": "Acme Corp", "attrs": {"tier": "gold", "seats": 12}},
        {"id": "org-2", "name": "Globex", "attrs": {}}]


def panel_of(html: str) -> str:
    start = html.index('<div class="user-panel">')
    end = html.find("</aside>", start)
    return html[start:] if end == -1 else html[start:end]


def state_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.search(r'<p class="state[^"]*">(.*?)</p>', html, re.S).group(1)).strip()


def test_verified_by_token(ws, staff):
    data = ws.signed_user({"id": "user-123", "email": "jane@example.com", "name": "Jane Doe",
                           "avatarUrl": "https://cdn.example.com/jane.png", "attrs": {"plan": "pro", "beta": True,
                                                                                      "score": 4.5, "ref": None},
                           "organizations": ORGS})
    conversation = ws.start(data["session"], "Help with billing")
    html = text_of(staff.get(f"/inbox/{conversation}"))
    panel = panel_of(html)
    assert state_of(panel) == f'<span class="badge ok">Verified</span> <span class="muted">(token, EdDSA, key {ws.ed_kid})</span>'
    assert "Jane Doe" in panel and "jane@example.com" in panel and "<code>user-123</code>" in panel
    assert '<img class="avatar" src="https://cdn.example.com/jane.png" alt="" referrerpolicy="no-referrer"' in panel
    for key, value in (("plan", "pro"), ("beta", "true"), ("score", "4.5")):
        assert f'<th scope="row">{key}</th><td>{value}</td>' in panel
    assert '<th scope="row">ref</th><td><span class="muted">null</span></td>' in panel
    org_links = re.findall(r'<a href="/organizations/(\d+)">([^<]+)</a>', panel)
    assert [name for _, name in org_links] == ["Acme Corp", "Globex"]
    assert '<th scope="row">tier</th><td>gold</td>' in panel and '<th scope="row">seats</th><td>12</td>' in panel
    assert "Widget (setUser)" in panel
    assert panel.count("<time datetime=") >= 2  # first and last seen
    assert f'href="/users/{ws.row_id("user-123")}"' in panel


def test_verified_by_login_link(ws, staff):
    data = ws.login_link_user({"id": "link-user", "email": "link@example.com", "name": "Link User"})
    conversation = ws.start(data["session"])
    panel = panel_of(text_of(staff.get(f"/inbox/{conversation}")))
    assert state_of(panel) == f'<span class="badge ok">Verified</span> <span class="muted">(login link, HS256, secret {ws.secret_kid})</span>'
    assert ws.secret_kid.startswith("sec_")
    assert "Login link" in panel  # where the user came from


def test_not_verified(ws, staff):
    _, conversation = ws.user_with_conversation("plain-1", name="Plain Person", email="plain@example.com")
    panel = panel_of(text_of(staff.get(f"/inbox/{conversation}")))
    assert state_of(panel) == '<span class="badge warn">Not verified</span> <span class="muted">(unsigned data)</span>'
    assert "Verified</span>" not in panel
    assert '<span class="avatar initials" aria-hidden="true">PP</span>' in panel
    assert re.search(r'<h3>Attributes</h3>\s*<p class="muted">None.</p>', panel)
    assert re.search(r'<h3>Organizations</h3>\s*<p class="muted">None.</p>', panel)


def test_anonymous_visitor(ws, staff):
    data = ws.set_user({"id": None})
    conversation = ws.start(data["session"], "I have no account yet")
    html = text_of(staff.get(f"/inbox/{conversation}"))
    panel = panel_of(html)
    assert state_of(panel) == '<span class="badge neutral">Anonymous</span> <span class="muted">(visitor)</span>'
    assert "Anonymous visitor" in panel and "none (visitor)" in panel
    assert data["visitorId"] not in html  # a visitor id lets its holder act as the visitor: never shown


def test_other_conversations_are_linked_and_the_current_one_is_not(ws, staff):
    session, first = ws.user_with_conversation("u1", "First topic")
    second = ws.start(session, "Second topic")
    panel = panel_of(text_of(staff.get(f"/inbox/{second}")))
    assert f'href="/inbox/{first}?status=all"' in panel and "First topic" in panel
    assert f'href="/inbox/{second}' not in panel


@pytest.mark.parametrize("stored", [
    "javascript:alert(1)", "http://example.com/a.png", "//evil.example/a.png", "data:image/png;base64,AAAA",
    "https://user@evil.example/a.png", "https://example.com/a.png\" onerror=\"alert(1)", " https://example.com/a.png",
])
def test_avatar_is_rechecked_at_render_time(app, ws, staff, stored):
    _, conversation = ws.user_with_conversation("u1", name="Eve Example")
    with app.app_context():  # as if written before the rules, or by hand
        db.session.execute(update(EndUser).where(EndUser.external_id == "u1").values(avatar_url=stored))
        db.session.commit()
    for page in (f"/inbox/{conversation}", f"/users/{ws.row_id('u1')}"):
        html = text_of(staff.get(page))
        assert "<img" not in html
        assert '<span class="avatar initials" aria-hidden="true">EE</span>' in html
        assert "javascript:" not in html


def test_user_page_has_the_panel_and_all_conversations(ws, staff):
    session, first = ws.user_with_conversation("u1", "Topic one", name="Una")
    second = ws.start(session, "Topic two")
    response = staff.get(f"/users/{ws.row_id('u1')}")
    assert response.status_code == 200
    html = text_of(response)
    assert '<h1 class="who">Una</h1>' in html and "<h2>Conversations</h2>" in html
    assert f'href="/inbox/{first}?status=all"' in html and f'href="/inbox/{second}?status=all"' in html
    assert "Not verified" in html
    assert staff.get("/users/999999").status_code == 404
