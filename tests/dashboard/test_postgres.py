"""The same search, pagination, inbox and seed rules on PostgreSQL (CI's server)."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from webapp.dashboard import paging
from webapp.dashboard.users import search
from webapp.extensions import db
from webapp.models import Conversation, EndUser

from .conftest import ago, links, post, text_of

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(postgres_app):
    return postgres_app


def ids_on(client, url: str) -> list[str]:
    return re.findall(r"<td><code>([^<]+)</code></td>", text_of(client.get(url)))


@pytest.mark.parametrize("narrow", [True, False])
def test_search_and_filters(ws, staff, monkeypatch, narrow):
    if not narrow:
        monkeypatch.setattr(search, "NARROW", 0)
        monkeypatch.setattr(paging, "WINDOW", 1)
    ws.set_user({"id": "User-1", "email": "Jane.Doe@Example.com", "name": "Jane Doe"})
    ws.signed_user({"id": "u-2", "email": "bob@example.com", "name": "Émile Bob"})
    ws.set_seen("User-1", ago(hours=2))
    assert ids_on(staff, "/users?q=User-") == ["User-1"]
    assert ids_on(staff, "/users?q=user-") == []
    assert ids_on(staff, "/users?q=JANE.") == ["User-1"]
    assert ids_on(staff, "/users?q=jane d") == ["User-1"]
    assert ids_on(staff, "/users?q=Émile") == ["u-2"]
    assert ids_on(staff, "/users?q=u") == ["u-2"]
    assert ids_on(staff, "/users?filter=verified") == ["u-2"]
    assert ids_on(staff, "/users?filter=unverified") == ["User-1"]


def test_cursor_and_page_numbers_agree(ws, staff, monkeypatch):
    monkeypatch.setattr(paging, "PAGE_SIZE", 4)
    for i in range(11):
        ws.set_user({"id": f"p-{i:02d}"})
        ws.set_seen(f"p-{i:02d}", ago(minutes=50 - i // 2))  # pairs share a time
    seen, url = [], "/users"
    while url:
        html = text_of(staff.get(url))
        seen.extend(re.findall(r"<td><code>([^<]+)</code></td>", html))
        url = links(html, "next")
    assert sorted(seen) == [f"p-{i:02d}" for i in range(11)]
    assert ids_on(staff, "/users?page=3") == seen[8:]
    assert ids_on(staff, links(text_of(staff.get("/users?page=3")), "prev")) == seen[4:8]


def test_inbox_round_trip(app, ws, staff):
    session, conversation = ws.user_with_conversation("u1", "On PostgreSQL")
    assert "On PostgreSQL" in text_of(staff.get(f"/inbox/{conversation}"))
    assert ws.conversation(conversation).unread_by_staff is False
    assert post(staff, f"/inbox/{conversation}/reply", {"body": "Answered"}).status_code == 302
    assert ws.widget_messages(session, conversation)[-1]["body"] == "Answered"
    ws.write(session, conversation, "Thanks")
    data = staff.get(f"/inbox/{conversation}/messages.json").get_json()
    assert [m["body"] for m in data["messages"]] == ["On PostgreSQL", "Answered", "Thanks"]
    assert post(staff, f"/inbox/{conversation}/close").status_code == 302
    assert ws.conversation(conversation).status == "closed"


def test_seed(app, ws):
    result = app.test_cli_runner().invoke(args=["signet", "seed", ws.public_id, "--users", "120",
                                                "--conversations", "7"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["last_user"] == "user-120"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(EndUser)) == 120
        assert db.session.scalar(select(func.count()).select_from(Conversation)) == 7
