"""Fan-out: each new outbox event becomes one delivery row per consumer, in one transaction
that also marks the event dispatched (so a worker killed half-way leaves it undispatched, and the
next worker does it whole). Consumers: the tenant's enabled endpoints subscribed to the type
(every event when they chose none), and members' mailboxes for staff notifications.

On PostgreSQL the events are taken FOR UPDATE SKIP LOCKED, so several workers fan out different
events; on SQLite the transaction starts with BEGIN IMMEDIATE (one writer). A plain read first
asks whether anything waits, so an idle worker never takes a write lock.
"""
from __future__ import annotations

from sqlalchemy import select

from ...extensions import db
from ...infra.database import is_sqlite, writing
from ...models import Delivery, OutboxEvent, WebhookEndpoint
from ...models._types import utcnow
from .. import events
from . import notify

BATCH = 200


def pending() -> bool:
    return db.session.scalar(select(OutboxEvent.id).where(OutboxEvent.dispatched_at.is_(None)).limit(1)) is not None


def dispatch_batch() -> int:
    """Fan out up to BATCH undispatched events; how many were."""
    if not pending():
        db.session.rollback()  # end the read's transaction: SQLite would hold its snapshot
        return 0
    with writing():
        stmt = select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None)).order_by(OutboxEvent.id).limit(BATCH)
        if not is_sqlite():
            stmt = stmt.with_for_update(skip_locked=True)
        rows = list(db.session.scalars(stmt))
        if not rows:
            return 0
        endpoints = _endpoints({e.tenant_id for e in rows})
        now = utcnow()
        for event in rows:
            made = 0
            for endpoint in endpoints.get(event.tenant_id, ()):
                if event.type in events.PUBLIC_TYPES and (not endpoint.events or event.type in endpoint.event_list):
                    db.session.add(Delivery(event_id=event.id, tenant_id=event.tenant_id, kind="webhook",
                                            endpoint_id=endpoint.id, next_attempt_at=now, created_at=now))
                    made += 1
            for member_id in notify.recipients(event):
                db.session.add(Delivery(event_id=event.id, tenant_id=event.tenant_id, kind="mail",
                                        member_id=member_id, next_attempt_at=now, created_at=now))
                made += 1
            event.dispatched_at = now
            if not made and event.payload.startswith("v1."):
                db.session.delete(event)  # sealed (user.deleted) and nobody to tell: kept nowhere
    return len(rows)


def _endpoints(tenant_ids: set[int]) -> dict[int, list[WebhookEndpoint]]:
    found: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.tenant_id.in_(tenant_ids),
                                                                     WebhookEndpoint.enabled.is_(True))):
        found.setdefault(endpoint.tenant_id, []).append(endpoint)
    return found
