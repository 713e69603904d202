"""Hostile end-user data is shown as text on every page, never as markup or a script URL."""
from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import EndUser, Organization

from .conftest import text_of

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
QUOTES = "\"' ><"
HOSTILE = (SCRIPT, IMG, QUOTES)
RAW = (SCRIPT, IMG, "onerror=alert(1)>", "\"' ><")  # javascript: may show as text, never in a URL


@pytest.fixture
def hostile(app, ws):
    body = {
        "id": f"id{SCRIPT}{QUOTES}",
        "email": "hostile@example.com",
        "name": f"Name {IMG}{QUOTES}",
        "attrs": {SCRIPT: IMG, f"k{QUOTES}": f"v{QUOTES}", "url": "javascript:alert(1)"},
        "organizations": [{"id": f"org{QUOTES}", "name": f"Org {SCRIPT}{QUOTES}", "attrs": {IMG: SCRIPT}}],
    }
    data = ws.set_user(body)
    conversation = ws.start(data["session"], f"{SCRIPT} subject {QUOTES}")
    ws.write(data["session"], conversation, f"Body {IMG} and {SCRIPT} and {QUOTES}")
    with app.app_context():  # set-user refuses it: written directly, to prove the check at render time
        db.session.execute(update(EndUser).where(EndUser.external_id == body["id"])
                           .values(avatar_url="javascript:alert(1)"))
        db.session.commit()
        org = db.session.scalar(select(Organization.id))
    return {"conversation": conversation, "user": ws.row_id(body["id"]), "org": org, "session": data["session"]}


def pages(hostile) -> list[str]:
    c = hostile["conversation"]
    return ["/inbox", f"/inbox/{c}", f"/inbox?c={c}&status=all", "/users", f"/users?q={quote('id<script>')}",
            f"/users?q={quote(SCRIPT)}", f"/users/{hostile['user']}", "/organizations",
            f"/organizations?q={quote('org <script>')}", f"/organizations/{hostile['org']}"]


def test_no_hostile_markup_on_any_page(hostile, staff):
    for path in pages(hostile):
        response = staff.get(path)
        assert response.status_code == 200, path
        html = text_of(response)
        for raw in RAW:
            assert raw not in html, (path, raw)
        assert not re.search(r"""(?:href|src)\s*=\s*["']?\s*javascript:""", html, re.I), path


def test_hostile_text_is_still_readable(hostile, staff):
    html = text_of(staff.get(f"/inbox/{hostile['conversation']}"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&#34;&#39; &gt;&lt;" in html  # quotes escaped in text and attributes alike
    assert '<span class="avatar initials"' in html and "<img" not in html.replace("&lt;img", "")
    # The attribute value holding the name for the polling script is escaped as well.
    assert re.search(r'data-user-name="Name &lt;img src=x onerror=alert\(1\)&gt;&#34;&#39; &gt;&lt;"', html)


def test_polling_json_carries_text_for_textcontent(hostile, staff):
    response = staff.get(f"/inbox/{hostile['conversation']}/messages.json")
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    bodies = [m["body"] for m in response.get_json()["messages"]]
    assert bodies[-1] == f"Body {IMG} and {SCRIPT} and {QUOTES}"  # data, for textContent only


def test_inbox_script_uses_text_only():
    """The polling script never parses message text as HTML."""
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / "static/js/inbox.js").read_text()
    assert "textContent" in source
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in source
