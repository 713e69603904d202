"""The inbox: list, thread, replies that reach the widget, close and reopen, read markers, polling."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, update

from webapp.extensions import db
from webapp.models import Conversation, Message
from webapp.services.messaging.conversations import MAX_BODY

from .conftest import links, post, text_of


def listed(html: str) -> list[str]:
    return re.findall(r'data-conversation="([^"]+)"', html)


def message_count(app, public_id: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Message).join(Conversation)
                                 .where(Conversation.public_id == public_id))


def test_empty_inbox_says_what_to_do(staff):
    html = text_of(staff.get("/inbox"))
    assert "No open conversations" in html and "<h1" in html


def test_list_is_newest_activity_first_with_unread_markers(ws, staff):
    s1, c1 = ws.user_with_conversation("u1", "First question", name="Ann")
    _, c2 = ws.user_with_conversation("u2", "Second question", name="Bob")
    html = text_of(staff.get("/inbox"))
    assert listed(html) == [c2, c1]
    assert html.count('class="unread"') == 2
    assert "Ann" in html and "Bob" in html and "First question" in html

    ws.write(s1, c1, "Anyone there?")  # new activity moves c1 to the top
    html = text_of(staff.get("/inbox"))
    assert listed(html) == [c1, c2]
    assert "Anyone there?" in html  # the preview shows the latest message


def test_opening_a_thread_marks_it_read(app, ws, staff):
    session, conversation = ws.user_with_conversation("u1", "Hello")
    ws.write(session, conversation, "More detail")
    assert ws.conversation(conversation).unread_by_staff is True

    html = text_of(staff.get(f"/inbox/{conversation}"))
    assert "Hello" in html and "More detail" in html
    assert html.count(">New</span>") == 2  # both were unread when the page was asked for
    row = ws.conversation(conversation)
    with app.app_context():
        newest = db.session.scalar(select(func.max(Message.id)).where(Message.conversation_id == row.id))
    assert row.unread_by_staff is False and row.staff_read_message_id == newest
    # The list beside it no longer marks it unread; reopening the page shows nothing as new.
    assert 'class=" current"' in html
    assert ">New</span>" not in text_of(staff.get(f"/inbox/{conversation}"))

    ws.write(session, conversation, "Hello again")
    assert ws.conversation(conversation).unread_by_staff is True
    assert 'class="unread"' in text_of(staff.get("/inbox"))


def test_thread_by_query_parameter(ws, staff):
    _, conversation = ws.user_with_conversation("u1", "Via c parameter")
    html = text_of(staff.get(f"/inbox?c={conversation}"))
    assert 'id="thread-messages"' in html and "Via c parameter" in html
    assert ws.conversation(conversation).unread_by_staff is False


def test_unknown_thread_is_404(staff):
    assert staff.get("/inbox/conv_nope").status_code == 404
    assert staff.get("/inbox?c=conv_nope").status_code == 404


def test_staff_reply_reaches_the_widget(app, ws, staff):
    session, conversation = ws.user_with_conversation("u1", "Where is my invoice?")
    response = post(staff, f"/inbox/{conversation}/reply", {"body": "  It is in Billing.  "}, page=f"/inbox/{conversation}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/inbox/{conversation}#m-msg_")

    messages = ws.widget_messages(session, conversation)
    assert [m["author"] for m in messages] == ["user", "staff"]
    staff_message = messages[-1]
    assert staff_message["body"] == "It is in Billing."
    assert staff_message["staffName"] == ws.owner.split("@")[0].title()  # the member's name, from their email
    html = text_of(staff.get(f"/inbox/{conversation}"))
    assert "It is in Billing." in html and "from-staff" in html
    assert ws.conversation(conversation).unread_by_staff is False


@pytest.mark.parametrize("body, message", [
    ("", "Write a reply before sending."),
    ("   \n  ", "Write a reply before sending."),
    ("x" * (MAX_BODY + 1), "at most 10,000 characters"),
])
def test_reply_errors_are_shown_and_nothing_is_sent(app, ws, staff, body, message):
    _, conversation = ws.user_with_conversation("u1")
    response = post(staff, f"/inbox/{conversation}/reply", {"body": body}, page=f"/inbox/{conversation}")
    assert response.status_code == 400
    html = text_of(response)
    assert message in html and 'aria-invalid="true"' in html and 'role="alert"' in html
    assert message_count(app, conversation) == 1


def test_reply_keeps_the_list_filters(ws, staff):
    _, conversation = ws.user_with_conversation("u1")
    response = post(staff, f"/inbox/{conversation}/reply?status=all&verified=1", {"body": "Hi"},
                    page=f"/inbox/{conversation}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"/inbox/{conversation}?status=all&verified=1#m-")


def test_close_and_reopen(ws, staff):
    session, conversation = ws.user_with_conversation("u1")
    page = f"/inbox/{conversation}"
    assert "Close conversation" in text_of(staff.get(page))

    response = post(staff, f"/inbox/{conversation}/close", page=page)
    assert response.status_code == 302 and response.headers["Location"] == page
    assert ws.conversation(conversation).status == "closed"
    html = text_of(staff.get(page))
    assert "Conversation closed." in html and "Reopen conversation" in html
    assert conversation not in listed(text_of(staff.get("/inbox")))  # open is the default filter
    assert conversation in listed(text_of(staff.get("/inbox?status=closed")))

    assert post(staff, f"/inbox/{conversation}/reopen", page=page).status_code == 302
    assert ws.conversation(conversation).status == "open"
    assert conversation in listed(text_of(staff.get("/inbox")))

    # A user writing again reopens a closed conversation (the widget's rule).
    post(staff, f"/inbox/{conversation}/close", page=page)
    ws.write(session, conversation, "Not solved yet")
    assert ws.conversation(conversation).status == "open"


def test_closing_a_closed_conversation_says_so_and_changes_nothing(app, ws, staff):
    """A second close (a stale tab, a colleague first) is 409 with a readable message, one event."""
    from webapp.models import OutboxEvent

    _, conversation = ws.user_with_conversation("u1")
    page = f"/inbox/{conversation}"
    assert post(staff, f"/inbox/{conversation}/close", page=page).status_code == 302
    again = post(staff, f"/inbox/{conversation}/close", page=page)
    assert again.status_code == 409
    html = text_of(again)
    assert "The conversation is already closed." in html and "Conversation closed." not in html
    assert ws.conversation(conversation).status == "closed"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.type == "conversation.closed")) == 1
        db.session.remove()


def test_status_and_verified_filters(ws, staff):
    _, unsigned = ws.user_with_conversation("plain")
    signed = ws.signed_user({"id": "signed", "name": "Sig Ned"})
    verified = ws.start(signed["session"])
    post(staff, f"/inbox/{unsigned}/close", page="/inbox")

    assert listed(text_of(staff.get("/inbox"))) == [verified]
    assert listed(text_of(staff.get("/inbox?status=closed"))) == [unsigned]
    assert set(listed(text_of(staff.get("/inbox?status=all")))) == {verified, unsigned}
    assert listed(text_of(staff.get("/inbox?status=all&verified=1"))) == [verified]
    assert listed(text_of(staff.get("/inbox?status=closed&verified=1"))) == []
    assert staff.get("/inbox?status=bogus").status_code == 400


def test_inbox_pagination_by_cursor(app, ws, staff, monkeypatch):
    from webapp.dashboard import paging

    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    made = [ws.user_with_conversation(f"u{i}", f"Question {i}")[1] for i in range(5)]
    with app.app_context():  # two share one timestamp: the id breaks the tie
        db.session.execute(update(Conversation).where(Conversation.public_id.in_(made[1:3]))
                           .values(updated_at=select(Conversation.updated_at)
                                   .where(Conversation.public_id == made[1]).scalar_subquery()))
        db.session.commit()
    seen, url = [], "/inbox"
    while url:
        html = text_of(staff.get(url))
        seen.extend(listed(html))
        url = links(html, "next")
    assert sorted(seen) == sorted(made) and len(seen) == 5
    # And back from the last page.
    back, url = [], links(text_of(staff.get("/inbox?page=3")), "prev")
    while url:
        html = text_of(staff.get(url))
        back = listed(html) + back
        url = links(html, "prev")
    assert back + listed(text_of(staff.get("/inbox?page=3"))) == seen


def test_polling_endpoint_returns_new_messages_and_marks_them_read(app, ws, staff):
    session, conversation = ws.user_with_conversation("u1", "First")
    staff.get(f"/inbox/{conversation}")
    first = ws.widget_messages(session, conversation)[0]["id"]

    data = staff.get(f"/inbox/{conversation}/messages.json?after={first}").get_json()
    assert data == {"messages": [], "status": "open", "unread": False}

    ws.write(session, conversation, "<b>second</b>")
    assert ws.conversation(conversation).unread_by_staff is True
    response = staff.get(f"/inbox/{conversation}/messages.json?after={first}")
    assert response.status_code == 200 and response.mimetype == "application/json"
    data = response.get_json()
    assert [m["body"] for m in data["messages"]] == ["<b>second</b>"]
    assert data["messages"][0]["author"] == "user" and data["unread"] is False
    assert ws.conversation(conversation).unread_by_staff is False

    everything = staff.get(f"/inbox/{conversation}/messages.json").get_json()["messages"]
    assert [m["body"] for m in everything] == ["First", "<b>second</b>"]
    assert staff.get(f"/inbox/{conversation}/messages.json?after=msg_unknown").status_code == 404
    assert staff.get("/inbox/conv_unknown/messages.json").status_code == 404


def test_polling_needs_a_login(app, ws):
    _, conversation = ws.user_with_conversation("u1")
    response = app.test_client().get(f"/inbox/{conversation}/messages.json")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_updates_endpoint_refreshes_unread_markers(ws, staff):
    s1, c1 = ws.user_with_conversation("u1")
    _, c2 = ws.user_with_conversation("u2")
    staff.get(f"/inbox/{c1}")
    data = staff.get(f"/inbox/updates.json?ids={c1},{c2},conv_unknown").get_json()
    state = {c["id"]: c["unread"] for c in data["conversations"]}
    assert state == {c1: False, c2: True}
    ws.write(s1, c1, "again")
    data = staff.get(f"/inbox/updates.json?ids={c1}").get_json()
    assert data["conversations"][0]["unread"] is True and data["conversations"][0]["status"] == "open"
    assert staff.get("/inbox/updates.json").get_json() == {"conversations": []}


def test_inbox_page_is_accessible_markup(ws, staff):
    _, conversation = ws.user_with_conversation("u1")
    html = text_of(staff.get(f"/inbox/{conversation}"))
    assert 'aria-live="polite"' in html
    assert '<label for="body">Reply</label>' in html
    assert '<label for="inbox-status">Status</label>' in html
    assert 'href="#main"' in html  # the skip link
    assert re.search(r'<script src="/static/js/inbox.js" defer></script>', html)
    assert "<script>" not in html  # no inline script (CSP)
    assert "script-src 'self'" in staff.get("/inbox").headers["Content-Security-Policy"]
