"""An endpoint failing for days is disabled and its owners mailed (the worker's real loop, a real
SMTP server, time moved by editing `failing_since`); webhook.added/removed are audited once with
the right actor; `signet prune` deletes final deliveries, their attempts and finished events past
the retention, never a pending one."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select, update

from webapp.extensions import db
from webapp.models import AuditEntry, Delivery, DeliveryAttempt, OutboxEvent, WebhookEndpoint
from webapp.models._types import utcnow
from webapp.services.webhooks.worker import drain

from ..helpers import post_form
from .conftest import add_endpoint, cli
from .test_pages import owner


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_endpoint_failing_for_days_is_disabled_and_owners_mailed(app, tenant, receiver, smtp):
    made = add_endpoint(app, tenant, receiver, "user.created")
    receiver.statuses = [500] * 10
    tenant.set_user({"id": "f-1"})
    drain(app)  # the first attempt fails: the endpoint starts failing
    receiver.wait_for(lambda got: len(got) >= 1)
    with app.app_context():
        endpoint = db.session.scalar(select(WebhookEndpoint))
        assert endpoint.enabled and endpoint.failing_since is not None
        # six days later (SIGNET_WEBHOOK_DISABLE_AFTER is five), still failing: the retry is due now
        db.session.execute(update(WebhookEndpoint).values(failing_since=utcnow() - timedelta(days=6)))
        db.session.execute(update(Delivery).values(next_attempt_at=utcnow()))
        db.session.commit()
    tried = len(receiver.received)
    drain(app)  # fails again: disabled, pending deliveries cancelled, the owners' mail sent
    assert len(receiver.received) == tried + 1
    mail = smtp.to(tenant.owner)[0]
    assert mail["Subject"] == "Webhook endpoint disabled in Hooks"
    body = smtp.body(mail)
    assert receiver.url in body and f"/settings/webhooks/{made['id']}" in body and "Every delivery failed" in body
    assert receiver.secret not in body and "whsec_" not in body
    with app.app_context():
        endpoint = db.session.scalar(select(WebhookEndpoint))
        assert not endpoint.enabled and endpoint.disabled_reason.startswith("Every delivery failed since")
        assert count(Delivery, Delivery.kind == "webhook", Delivery.state == "pending") == 0
        assert set(db.session.scalars(select(Delivery.state).where(Delivery.kind == "webhook"))) == {"cancelled"}
    tenant.set_user({"id": "f-2"})  # a later event goes nowhere
    drain(app)
    assert len(receiver.received) == tried + 1
    assert len(smtp.messages) == 1  # mailed once
    code, listed = cli(app, "webhook", "list", tenant.public_id)
    assert code == 0 and listed["endpoints"][0]["enabled"] is False


def audit_rows(app, tenant, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.tenant_id == tenant.id,
                                                                AuditEntry.action == action)))


def test_webhook_added_and_removed_audited_once_with_the_actor(app, tenant, receiver):
    made = add_endpoint(app, tenant, receiver, "user.created")  # signet webhook add
    code, _ = cli(app, "webhook", "remove", tenant.public_id, made["id"])
    assert code == 0
    client = owner(app, tenant)
    page = post_form(client, "/settings/webhooks", {"url": receiver.url}, page="/settings/webhooks")
    assert page.status_code == 201
    listing = client.get("/settings/webhooks").get_data(as_text=True)
    from_page = re.search(r"/settings/webhooks/(wh_[A-Za-z0-9_-]+)", listing).group(1)
    path = f"/settings/webhooks/{from_page}"
    assert post_form(client, f"{path}/remove", page=path).status_code == 302

    added = {row.target: row for row in audit_rows(app, tenant, "webhook.added")}
    removed = {row.target: row for row in audit_rows(app, tenant, "webhook.removed")}
    assert len(audit_rows(app, tenant, "webhook.added")) == 2 and len(audit_rows(app, tenant, "webhook.removed")) == 2
    assert added[made["id"]].actor == "command line" and removed[made["id"]].actor == "command line"
    assert added[from_page].actor == tenant.owner and removed[from_page].actor == tenant.owner
    assert added[from_page].actor_member_id is not None
    assert added[made["id"]].after == {"url": receiver.url, "events": ["user.created"]}
    assert removed[from_page].before == {"url": receiver.url}
    for row in [*added.values(), *removed.values()]:  # the signing secret is never in the log
        assert "whsec_" not in repr(row.before) + repr(row.after)


def test_prune_deletes_final_deliveries_attempts_and_events_past_retention(app, tenant, receiver, factory):
    add_endpoint(app, tenant, receiver, "user.created")
    for name in ("old", "pending", "recent"):
        tenant.set_user({"id": f"r-{name}"})
    quiet = factory.tenant("No endpoints")
    # An event recorded while an endpoint was subscribed, the endpoint removed before the fan-out:
    # nobody is subscribed to it any more (with no endpoint at all, no user event is recorded).
    secret = receiver.secret
    gone = add_endpoint(app, quiet, receiver, "user.created")["id"]
    receiver.secret = secret  # the receiver checks the first endpoint's signatures
    app.test_client().post(f"/api/v1/widget/{quiet.public_id}/set-user", json={"id": "nobody-listens"})
    assert cli(app, "webhook", "remove", quiet.public_id, gone)[0] == 0
    drain(app)
    receiver.wait_for(lambda got: len(got) >= 3)
    with app.app_context():
        by_user = {re.search(r'"id":"(r-\w+)"', e.payload).group(1): e.id
                   for e in db.session.scalars(select(OutboxEvent).where(OutboxEvent.tenant_id == tenant.id))}
        long_ago = utcnow() - timedelta(days=31)
        db.session.execute(update(OutboxEvent).values(dispatched_at=long_ago, created_at=long_ago))
        db.session.execute(update(Delivery).where(Delivery.event_id == by_user["r-old"]).values(finished_at=long_ago))
        # a delivery still pending (its worker was down for weeks): never pruned, nor its event
        db.session.execute(update(Delivery).where(Delivery.event_id == by_user["r-pending"]).values(
            state="pending", finished_at=None, created_at=long_ago, next_attempt_at=utcnow() + timedelta(hours=1)))
        db.session.commit()
        assert count(OutboxEvent) == 4 and count(Delivery) == 3 and count(DeliveryAttempt) == 3

    code, out = cli(app, "prune")
    assert code == 0, out
    assert out["webhook_deliveries"] == 1 and out["webhook_attempts"] == 1
    assert out["outbox_events"] == 2  # r-old's, and the event nobody was subscribed to
    with app.app_context():
        assert set(db.session.scalars(select(OutboxEvent.id))) == {by_user["r-pending"], by_user["r-recent"]}
        assert set(db.session.scalars(select(Delivery.event_id))) == {by_user["r-pending"], by_user["r-recent"]}
        assert count(DeliveryAttempt) == 2
    code, again = cli(app, "prune")  # nothing more to do
    assert code == 0 and again["webhook_deliveries"] == again["webhook_attempts"] == again["outbox_events"] == 0
