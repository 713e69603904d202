"""Idempotency-Key and clientMessageId on the widget API's creating writes (issue 19, 4), over HTTP.

A repeat within 24 hours answers the first answer (same status and body) and creates nothing;
the same key with another request is 409 idempotency_key_reused, before the field rules; keys
belong to one tenant and session subject; they expire after 24 hours and are pruned.
"""
import json

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Conversation, IdempotencyKey, Message
from webapp.services.end_users import idempotency

from .conftest import assert_error, call, count, identify

KEY = {"Idempotency-Key": "retry-me-1"}


@pytest.fixture
def session(client) -> str:
    return identify(client, {"id": "u-1"})["session"]


def start(client, session, body, headers=KEY):
    return call(client, "POST", "conversations", body, session=session, headers=headers)


def test_a_repeated_conversation_answers_the_first_answer_and_creates_nothing(app, client, session):
    first = start(client, session, {"body": "Hello"})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = start(client, session, {"body": "Hello"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()
    assert count(app, Conversation) == 1 and count(app, Message) == 1 and count(app, IdempotencyKey) == 1


def test_a_repeated_message_answers_the_first_answer(app, client, session):
    conversation = start(client, session, {"body": "Hello"}, headers={}).get_json()["id"]
    path = f"conversations/{conversation}/messages"
    first = call(client, "POST", path, {"body": "More"}, session=session, headers=KEY)
    again = call(client, "POST", path, {"body": "More"}, session=session, headers=KEY)
    assert (first.status_code, again.status_code) == (201, 201) and again.get_data() == first.get_data()
    assert count(app, Message) == 2


def test_the_same_key_with_another_request_is_409_before_the_field_rules(app, client, session):
    assert start(client, session, {"body": "Hello"}).status_code == 201
    assert_error(start(client, session, {"body": "Other"}), 409, "idempotency_key_reused", "Idempotency-Key")
    assert_error(start(client, session, {"body": ""}), 409, "idempotency_key_reused", "Idempotency-Key")
    conversation = db_conversation(app)
    messages = call(client, "POST", f"conversations/{conversation}/messages", {"body": "Hello"}, session=session,
                    headers=KEY)  # another endpoint
    assert_error(messages, 409, "idempotency_key_reused", "Idempotency-Key")
    assert count(app, Conversation) == 1 and count(app, Message) == 1


def test_the_session_comes_first_and_a_refused_write_stores_no_key(app, client, session):
    assert_error(call(client, "POST", "conversations", {"body": "x"}, headers=KEY), 401, "session_invalid")
    assert_error(start(client, session, {"body": ""}), 400, "invalid_field", "body")
    assert count(app, IdempotencyKey) == 0
    assert start(client, session, {"body": "Now right"}).status_code == 201  # nothing was stored under the key


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_400(client, session, key):
    assert_error(start(client, session, {"body": "Hello"}, headers={"Idempotency-Key": key}), 400, "invalid_field",
                 "Idempotency-Key")


def test_keys_belong_to_one_session_subject(app, client, session):
    other = identify(client, {"id": "u-2"})["session"]
    visitor = identify(client, {"id": None})["session"]
    same_user = identify(client, {"id": "u-1"})["session"]
    first = start(client, session, {"body": "Hello"})
    assert start(client, other, {"body": "Hello"}).get_json()["id"] != first.get_json()["id"]
    assert start(client, visitor, {"body": "Hello"}).get_json()["id"] != first.get_json()["id"]
    assert start(client, same_user, {"body": "Hello"}).get_data() == first.get_data()  # another session, same user
    assert count(app, Conversation) == 3


def test_a_key_expires_after_24_hours_and_is_pruned(app, client, session, monkeypatch):
    now = [1_900_000_000.0]
    monkeypatch.setattr(idempotency, "clock", lambda: now[0])
    first = start(client, session, {"body": "Hello"}).get_json()
    now[0] += 24 * 3600 - 1
    assert start(client, session, {"body": "Hello"}).get_json() == first
    now[0] += 1
    later = start(client, session, {"body": "Hello"})
    assert later.status_code == 201 and later.get_json()["id"] != first["id"]  # a new request under the old key
    assert count(app, Conversation) == 2 and count(app, IdempotencyKey) == 1
    start(client, session, {"body": "Other"}, headers={"Idempotency-Key": "k2"})
    now[0] += 24 * 3600
    result = app.test_cli_runner().invoke(args=["signet", "prune"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["idempotency_keys"] == 2 and count(app, IdempotencyKey) == 0


def test_expired_keys_are_pruned_on_the_fly(app, client, session, monkeypatch):
    now = [1_900_000_000.0]
    monkeypatch.setattr(idempotency, "clock", lambda: now[0])
    monkeypatch.setattr(idempotency, "PRUNE_EVERY", 3)
    monkeypatch.setattr(idempotency, "_records", [0])
    start(client, session, {"body": "Old"}, headers={"Idempotency-Key": "old"})
    now[0] += 25 * 3600
    start(client, session, {"body": "New 1"}, headers={"Idempotency-Key": "new-1"})
    assert count(app, IdempotencyKey) == 2
    start(client, session, {"body": "New 2"}, headers={"Idempotency-Key": "new-2"})  # the third record prunes
    with app.app_context():
        assert sorted(db.session.scalars(select(IdempotencyKey.key))) == ["new-1", "new-2"]


def test_a_client_message_id_makes_a_message_once(app, client, session):
    conversation = start(client, session, {"body": "Hello"}, headers={}).get_json()["id"]
    path = f"conversations/{conversation}/messages"
    first = call(client, "POST", path, {"body": "More", "clientMessageId": "m-1"}, session=session)
    assert first.status_code == 201 and first.get_json()["clientMessageId"] == "m-1"
    again = call(client, "POST", path, {"body": "More", "clientMessageId": "m-1"}, session=session)
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert_error(call(client, "POST", path, {"body": "Changed", "clientMessageId": "m-1"}, session=session),
                 409, "idempotency_key_reused", "clientMessageId")
    assert call(client, "POST", path, {"body": "More", "clientMessageId": "m-2"}, session=session).status_code == 201
    assert count(app, Message) == 3


@pytest.mark.parametrize("value", ["", "x" * 65, "has space", "caf\u00e9", 7, ["m"]])
def test_a_malformed_client_message_id_is_400(app, client, session, value):
    conversation = start(client, session, {"body": "Hello"}, headers={}).get_json()["id"]
    response = call(client, "POST", f"conversations/{conversation}/messages", {"body": "x", "clientMessageId": value},
                    session=session)
    assert_error(response, 400, "invalid_field", "clientMessageId")
    assert count(app, Message) == 1


def test_cors_lets_a_page_send_the_key_and_read_the_replay_flag(client, session):
    from .conftest import ORIGIN

    preflight = call(client, "OPTIONS", "conversations", origin=ORIGIN, headers={
        "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "idempotency-key"})
    assert "idempotency-key" in preflight.headers["Access-Control-Allow-Headers"].lower()
    response = call(client, "POST", "conversations", {"body": "Hi"}, session=session, origin=ORIGIN, headers=KEY)
    assert "Idempotent-Replayed" in response.headers["Access-Control-Expose-Headers"]


def db_conversation(app) -> str:
    with app.app_context():
        return db.session.scalar(select(Conversation.public_id))
