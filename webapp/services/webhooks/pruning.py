"""Retention of the outbox (`signet prune`): final deliveries (delivered, failed, cancelled) and
their attempts are deleted SIGNET_WEBHOOK_RETENTION_DAYS (30) after they ended; an event is deleted
once it is dispatched and none of its deliveries is left (so every delivery of it was final and
is gone, or it never had a consumer). Pending deliveries, and so their events, are never pruned.
"Still waiting" notices older than the look-back of notify.py are deleted too.

Deleted in chunks of CHUNK rows, each its own short transaction, so a large outbox is never locked
for long and the worker keeps sending meanwhile.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from ...extensions import db
from ...infra.database import writing
from ...models import Delivery, DeliveryAttempt, OutboxEvent, WaitNotice
from .notify import LOOK_BACK

CHUNK = 5000


def retention() -> timedelta:
    return timedelta(days=current_app.config.get("SIGNET_WEBHOOK_RETENTION_DAYS", 30))


def prune(now: datetime) -> dict:
    """Delete what is past its retention; counts by kind."""
    counts = {"webhook_attempts": 0, "webhook_deliveries": 0, "outbox_events": 0, "wait_notices": 0}
    old = select(Delivery.id).where(Delivery.state != "pending", Delivery.finished_at < now - retention())
    while ids := _chunk(old):
        with writing():
            counts["webhook_attempts"] += _delete(DeliveryAttempt, DeliveryAttempt.delivery_id.in_(ids))
            counts["webhook_deliveries"] += _delete(Delivery, Delivery.id.in_(ids))
    unreferenced = select(OutboxEvent.id).where(
        OutboxEvent.dispatched_at.is_not(None), OutboxEvent.dispatched_at < now,
        ~select(Delivery.id).where(Delivery.event_id == OutboxEvent.id).exists())
    while ids := _chunk(unreferenced):
        with writing():  # re-checked under the write: a "Send again" may have just added a delivery
            counts["outbox_events"] += _delete(OutboxEvent, OutboxEvent.id.in_(ids),
                                               ~select(Delivery.id).where(Delivery.event_id == OutboxEvent.id).exists())
    with writing():
        counts["wait_notices"] = _delete(WaitNotice, WaitNotice.created_at < now - LOOK_BACK - timedelta(days=1))
    return counts


def _chunk(query) -> list[int]:
    ids = list(db.session.scalars(query.order_by(None).limit(CHUNK)))
    db.session.rollback()  # end the read: SQLite would keep its snapshot
    return ids


def _delete(model, *where) -> int:
    result = db.session.execute(delete(model).where(*where), execution_options={"synchronize_session": False})
    return result.rowcount or 0
