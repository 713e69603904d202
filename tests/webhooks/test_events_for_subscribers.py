"""User writes record user.* events only for an enabled endpoint subscribed to them (issue 18):
with none, a changing user's set-user sends no outbox INSERT; with one, it does and the event
is delivered. Subscriptions are read with the tenant (tenant.webhook_events), never queried."""
from __future__ import annotations

from sqlalchemy import event as sa_event

from webapp.extensions import db
from webapp.services.webhooks import endpoints
from webapp.services.webhooks.worker import drain
from webapp.services.workspace import tenants

from .conftest import add_endpoint, cli


def outbox_inserts(app, tenant, body: dict) -> int:
    """The outbox INSERTs one set-user sends (and that it answered 200)."""
    inserts: list[str] = []
    with app.app_context():
        engine = db.engine

    def record(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT") and "outbox_event" in statement:
            inserts.append(statement)

    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        tenant.set_user(body)
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    return len(inserts)


def test_no_endpoint_no_outbox_insert_one_endpoint_one_event_delivered(app, tenant, receiver):
    assert outbox_inserts(app, tenant, {"id": "u", "name": "A"}) == 0  # created
    assert outbox_inserts(app, tenant, {"id": "u", "name": "B", "attrs": {"n": 1}}) == 0  # changed in place
    assert outbox_inserts(app, tenant, {"id": "u", "name": "C", "organizations": [{"id": "o", "name": "O"}]}) == 0
    add_endpoint(app, tenant, receiver)
    assert outbox_inserts(app, tenant, {"id": "u", "name": "D"}) == 1
    drain(app)
    got = receiver.wait_for(lambda got: len(got) >= 1)
    assert [r["type"] for r in got] == ["user.updated"] and got[0]["verified"]
    assert got[0]["payload"]["data"]["user"]["name"] == "D"


def test_only_the_types_an_enabled_endpoint_subscribes_to_are_recorded(app, tenant, receiver):
    endpoint = add_endpoint(app, tenant, receiver, "user.verified")["id"]
    assert outbox_inserts(app, tenant, {"id": "v", "name": "A"}) == 0  # user.created: not subscribed
    assert outbox_inserts(app, tenant, {"jwt": tenant.sign({"id": "v", "name": "B"})}) == 1  # user.verified only
    with app.app_context():  # as the dashboard's Disable button does
        endpoints.set_enabled(tenants.get_tenant(tenant.public_id), endpoint, False)
    assert outbox_inserts(app, tenant, {"jwt": tenant.sign({"id": "w"})}) == 0
    assert cli(app, "webhook", "enable", tenant.public_id, endpoint)[0] == 0
    assert outbox_inserts(app, tenant, {"jwt": tenant.sign({"id": "x"})}) == 1
    assert cli(app, "webhook", "remove", tenant.public_id, endpoint)[0] == 0
    assert outbox_inserts(app, tenant, {"jwt": tenant.sign({"id": "y"})}) == 0
