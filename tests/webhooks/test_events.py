"""Events reach a receiver signed (standardwebhooks verifies each), written in the change's own
transaction, and never on the returning user's no-write path."""
from __future__ import annotations

from sqlalchemy import event as sa_event, func, select

from webapp.extensions import db
from webapp.models import Delivery, OutboxEvent
from webapp.services.webhooks.worker import drain

from .conftest import add_endpoint, cli


def outbox(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)))


def test_user_and_conversation_events_are_signed_and_delivered(app, tenant, receiver):
    add_endpoint(app, tenant, receiver)
    tenant.set_user({"id": "u-1", "email": "ann@example.com", "name": "Ann"})
    signed = tenant.sign({"id": "u-1", "email": "ann@example.com", "name": "Ann B"})
    session = tenant.set_user({"jwt": signed})["session"]
    client = app.test_client()
    made = client.post(tenant.url("conversations"), json={"body": "Hello there"},
                       headers={"Authorization": f"Bearer {session}"})
    assert made.status_code == 201, made.get_json()
    drain(app)
    receiver.wait_for(lambda got: len(got) >= 5)
    assert sorted(receiver.types()) == sorted(["user.created", "user.updated", "user.verified",
                                               "conversation.created", "message.created"])  # unordered
    assert all(r["verified"] for r in receiver.received)
    by_type = {r["type"]: r["payload"]["data"] for r in receiver.accepted()}
    created = by_type["user.created"]["user"]
    assert created["id"] == "u-1" and created["email"] == "ann@example.com" and created["verified"] is False
    message = by_type["message.created"]
    assert message["message"]["body"] == "Hello there" and message["conversation"]["user"]["id"] == "u-1"
    assert len({r["id"] for r in receiver.received}) == 5  # one webhook-id per event


def test_returning_verified_user_with_same_data_writes_no_event(app, tenant, receiver):
    add_endpoint(app, tenant, receiver)  # user events are recorded only for a subscribed endpoint
    claims = {"id": "u-2", "email": "bo@example.com", "name": "Bo"}
    tenant.set_user({"jwt": tenant.sign(claims)})
    assert outbox(app) == ["user.created", "user.verified"]
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())

    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        tenant.set_user({"jwt": tenant.sign(claims)})
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    assert not {"INSERT", "UPDATE", "DELETE"} & set(statements), statements
    assert outbox(app) == ["user.created", "user.verified"]


def test_a_refused_write_leaves_no_event(app, tenant):
    tenant.set_user({"jwt": tenant.sign({"id": "u-3", "name": "Signed"})})
    before = outbox(app)
    refused = app.test_client().post(tenant.url("set-user"), json={"id": "u-3", "name": "Unsigned"})
    assert refused.status_code == 403
    assert outbox(app) == before


def test_rolled_back_transaction_rolls_back_its_event(app, tenant):
    from webapp.infra.database import writing
    from webapp.services import events

    with app.app_context():
        try:
            with writing():
                events.emit(tenant.id, "user.created", {"user": {"id": "ghost"}})
                raise RuntimeError("the change failed")
        except RuntimeError:
            pass
        assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


def test_subscribed_events_only_and_cli_list_remove(app, tenant, receiver):
    made = add_endpoint(app, tenant, receiver, "conversation.created")
    assert made["secret"].startswith("whsec_") and made["events"] == ["conversation.created"]
    tenant.set_user({"id": "u-4"})
    drain(app)
    assert receiver.received == []
    code, listed = cli(app, "webhook", "list", tenant.public_id)
    assert code == 0 and [e["id"] for e in listed["endpoints"]] == [made["id"]]
    assert "secret" not in listed["endpoints"][0]
    code, _ = cli(app, "webhook", "remove", tenant.public_id, made["id"])
    assert code == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_loopback_url_refused_without_the_setting(app, tenant, receiver):
    app.config["SIGNET_ALLOW_PRIVATE_URLS"] = False
    code, out = cli(app, "webhook", "add", tenant.public_id, "--url", receiver.url)
    assert code == 1 and "url" in out.lower()
    # a name that resolves to 127.0.0.1 is refused too (checked after resolution)
    code, out = cli(app, "webhook", "add", tenant.public_id, "--url", "https://localhost/hook")
    assert code == 1, out


def test_five_hundred_three_times_then_delivered_on_the_fourth(app, tenant, receiver):
    add_endpoint(app, tenant, receiver, "user.created")
    receiver.statuses = [500, 500, 500]
    tenant.set_user({"id": "u-5"})
    import time
    deadline = time.time() + 30
    while len(receiver.accepted()) < 1 and time.time() < deadline:
        drain(app)
        time.sleep(0.2)
    got = receiver.received
    assert [r["status"] for r in got] == [500, 500, 500, 204]
    assert len({r["id"] for r in got}) == 1 and all(r["verified"] for r in got)
    with app.app_context():
        delivery = db.session.scalar(select(Delivery))
        assert delivery.state == "delivered" and delivery.attempts == 4


def test_erasure_emits_user_deleted_sealed_and_forgets_earlier_events(app, tenant, receiver):
    tenant.set_user({"id": "erase-me", "email": "erase-me@example.com"})
    add_endpoint(app, tenant, receiver, "user.deleted")
    code, key = cli(app, "apikey", "create", tenant.public_id, "--name", "backend", "--scope", "write")
    assert code == 0, key
    gone = app.test_client().delete("/api/v1/server/users/erase-me", headers={"Authorization": f"Bearer {key['key']}"})
    assert gone.status_code == 200, gone.get_json()
    with app.app_context():
        stored = list(db.session.scalars(select(OutboxEvent.payload)))
    assert len(stored) == 1 and "erase-me" not in stored[0]  # user.created forgotten; user.deleted sealed
    drain(app)
    receiver.wait_for(lambda got: len(got) == 1)
    assert receiver.accepted()[0]["payload"]["data"] == {"user": {"id": "erase-me"}}
    assert receiver.received[0]["verified"]
    with app.app_context():  # delivered: the sealed event is gone too
        assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
