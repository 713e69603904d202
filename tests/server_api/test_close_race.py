"""Closing a conversation happens once: of two requests racing to close it (server API and
dashboard), one answers 200 and the other 409 conflict, and one conversation.closed event is
recorded. On SQLite and on PostgreSQL."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Conversation, OutboxEvent
from webapp.services.messaging import inbox

from ..helpers import csrf_of, login
from ..factories import PASSWORD
from .conftest import Api
from .test_routes import seed


@pytest.fixture
def app(app_on_both):
    return app_on_both


def closed_events(app, conversation: str) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.type == "conversation.closed", OutboxEvent.payload.contains(conversation)))
        db.session.remove()
    return count


def status_of(app, conversation: str) -> str:
    with app.app_context():
        status = db.session.scalar(select(Conversation.status).where(Conversation.public_id == conversation))
        db.session.remove()
    return status


def racing(monkeypatch, parties: int = 2) -> None:
    """Both requests have found the conversation open before either writes."""
    barrier, original = threading.Barrier(parties, timeout=10), inbox.set_status

    def set_status(*args, **kwargs):
        barrier.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(inbox, "set_status", set_status)


def test_two_racing_server_api_closes_answer_200_and_409(app, api, workspace, monkeypatch):
    conversation = seed(api, workspace)
    racing(monkeypatch)
    callers = [Api(app, api.key, workspace) for _ in range(2)]  # a test client each
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda c: c.post(f"/conversations/{conversation}/close"), callers))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.get_json() for a in answers]
    refused = next(a for a in answers if a.status_code == 409).get_json()
    assert refused["error"]["code"] == "conflict"
    assert status_of(app, conversation) == "closed"
    assert closed_events(app, conversation) == 1


def test_server_api_and_dashboard_racing_to_close(app, api, workspace, monkeypatch):
    conversation = seed(api, workspace)
    staff = app.test_client()
    assert login(staff, workspace.owner, PASSWORD).status_code == 302
    token = csrf_of(staff.get(f"/inbox/{conversation}").get_data(as_text=True))
    racing(monkeypatch)
    calls = [lambda: api.post(f"/conversations/{conversation}/close"),
             lambda: staff.post(f"/inbox/{conversation}/close", data={"csrf_token": token})]
    with ThreadPoolExecutor(max_workers=2) as pool:
        api_answer, page = list(pool.map(lambda call: call(), calls))
    assert sorted([api_answer.status_code, page.status_code]) in ([200, 409], [302, 409]), \
        (api_answer.status_code, page.status_code)
    if page.status_code == 409:
        assert "The conversation is already closed." in page.get_data(as_text=True)
    assert closed_events(app, conversation) == 1


def test_sequential_double_close_is_409_once_recorded(app, api, workspace):
    conversation = seed(api, workspace)
    assert api.post(f"/conversations/{conversation}/close").status_code == 200
    second = api.post(f"/conversations/{conversation}/close")
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "conflict"
    assert closed_events(app, conversation) == 1
