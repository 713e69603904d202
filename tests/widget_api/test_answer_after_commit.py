"""A write that committed answers its success even when the database is gone right after the
commit (issue 19, 2): the answer is built from what was written, never read again afterwards.

tests/after_commit.py makes every statement a request sends after its first commit fail as a
lost connection does (503 "retry shortly" if anything read again): set-user on each of its write
paths, starting a conversation, posting a message and logging out still answer their success,
and each write is stored once. (Before the fix, set-user, POST conversations and POST messages
answered 503 here; logout never read after its commit.)
"""
import pytest
from sqlalchemy import select

from webapp.models import Conversation, EndUser, Message, RevokedSession

from ..after_commit import FAIL_AFTER_COMMIT, break_database_after_commit
from ..conftest import _served, make_app
from .conftest import call, count, fetch, identify, set_user, sign

GONE = {FAIL_AFTER_COMMIT: "1"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app(request, tmp_path):
    overrides = {}
    if request.param == "postgres":
        overrides["SQLALCHEMY_DATABASE_URI"] = request.getfixturevalue("postgres_url")
    made = make_app(tmp_path, **overrides)
    break_database_after_commit(made)
    yield from _served(made)


def test_logout_answers_its_204_and_is_stored(client):
    session = identify(client, {"id": "u-1"})["session"]
    response = call(client, "POST", "logout", {}, session=session, headers=GONE)
    assert response.status_code == 204
    assert call(client, "GET", "conversations", session=session).status_code == 401


def test_set_user_answers_what_it_wrote_on_every_path(app, client):
    created = set_user(client, {"id": "u-1", "name": "Ann", "organizations": [{"id": "o1", "name": "One"}]},
                       headers=GONE)
    assert created.status_code == 200, created.get_json()
    assert created.get_json()["user"]["organizations"] == [{"id": "o1", "name": "One", "attrs": {}}]
    in_place = set_user(client, {"id": "u-1", "attrs": {"plan": "pro"}}, headers=GONE)  # the attrs-only UPDATE
    assert in_place.status_code == 200, in_place.get_json()
    assert in_place.get_json()["user"]["attrs"] == {"plan": "pro"} and in_place.get_json()["user"]["name"] == "Ann"
    moved = set_user(client, {"id": "u-1", "organizations": [{"id": "o2", "name": "Two"}]}, headers=GONE)
    assert moved.status_code == 200, moved.get_json()
    assert [o["id"] for o in moved.get_json()["user"]["organizations"]] == ["o2"]
    signed = set_user(client, {"jwt": sign({"id": "u-1", "name": "Ann B", "jti": "once"}, client.tenant)}, headers=GONE)
    assert signed.status_code == 200, signed.get_json()
    assert signed.get_json()["user"]["verified"] is True and signed.get_json()["user"]["name"] == "Ann B"
    [user] = fetch(app, EndUser, EndUser.external_id == "u-1")
    assert (user.name, user.attrs, user.verified) == ("Ann B", {"plan": "pro"}, True)
    assert count(app, EndUser) == 1


def test_conversation_message_and_logout_answer_their_success(app, client):
    session = identify(client, {"id": "u-1"})["session"]
    started = call(client, "POST", "conversations", {"body": "Hello\nthere"}, session=session, headers=GONE)
    assert started.status_code == 201, started.get_json()
    conversation = started.get_json()
    assert conversation["subject"] == "Hello" and conversation["status"] == "open"
    assert conversation["lastMessage"]["body"] == "Hello\nthere" and conversation["lastMessage"]["author"] == "user"
    posted = call(client, "POST", f"conversations/{conversation['id']}/messages", {"body": "More"},
                  session=session, headers=GONE)
    assert posted.status_code == 201, posted.get_json()
    assert posted.get_json()["body"] == "More"
    stored = [m.public_id for m in fetch(app, Message)]
    assert stored == [conversation["lastMessage"]["id"], posted.get_json()["id"]]
    assert [c.public_id for c in fetch(app, Conversation)] == [conversation["id"]]
    assert call(client, "POST", "logout", {}, session=session, headers=GONE).status_code == 204
    assert count(app, RevokedSession) == 1


def test_an_anonymous_visitors_first_conversation_too(app, client):
    visitor = identify(client, {"id": None})
    started = call(client, "POST", "conversations", {"body": "Hi"}, session=visitor["session"], headers=GONE)
    assert started.status_code == 201, started.get_json()
    assert count(app, EndUser, EndUser.anonymous.is_(True)) == 1
    assert count(app, Message) == 1
