"""Fan-out: each new outbox event becomes one delivery row per consumer, in the worker's write
transaction that also marks the event dispatched (so a worker killed half-way leaves it
undispatched, and the next worker does it whole). Consumers: the tenant's enabled endpoints
subscribed to the type (every event when they chose none), and members' mailboxes for staff
notifications.

Statements per batch of up to BATCH events, whatever its size: the events (on PostgreSQL FOR
UPDATE SKIP LOCKED, so several workers fan out different events; on SQLite the transaction is
BEGIN IMMEDIATE, one writer), the tenants' endpoints, one multi-row INSERT of the deliveries, one
UPDATE marking the events dispatched (plus a read of mail recipients per tenant and type that
mails anyone: conversation.created and the internal signet.* events).
"""
from __future__ import annotations

from sqlalchemy import delete, insert, select, update

from ...extensions import db
from ...infra.database import is_sqlite
from ...models import Delivery, OutboxEvent, WebhookEndpoint
from ...models._types import utcnow
from .. import events
from . import notify

BATCH = 200
ROWS_PER_INSERT = 500  # 8 parameters a row: well under SQLite's 32 766
MAILED_TYPES = ("conversation.created", events.WAITING_TYPE, events.ENDPOINT_DISABLED_TYPE)


def fan_out(limit: int = BATCH) -> int:
    """Inside the caller's write transaction: fan out up to `limit` undispatched events; how many were."""
    stmt = (select(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None), OutboxEvent.type.notin_(events.MEMBER_NOTES))
            .order_by(OutboxEvent.id).limit(limit))  # (an organization's members to tell: member_events.tell)
    if not is_sqlite():
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list(db.session.scalars(stmt))
    if not rows:
        return 0
    endpoints = _endpoints({e.tenant_id for e in rows})
    now = utcnow()
    made: list[dict] = []
    nobody: list[int] = []
    mailed: dict[tuple, list[int]] = {}
    for event in rows:
        before = len(made)
        for endpoint in endpoints.get(event.tenant_id, ()):
            if event.type in events.PUBLIC_TYPES and (not endpoint.events or event.type in endpoint.event_list):
                made.append(dict(event_id=event.id, tenant_id=event.tenant_id, kind="webhook",
                                 endpoint_id=endpoint.id, member_id=None, next_attempt_at=now, created_at=now))
        if event.type in MAILED_TYPES:
            key = (event.tenant_id, event.type) if event.type == "conversation.created" else (event.id,)
            if key not in mailed:
                mailed[key] = notify.recipients(event)
            made += [dict(event_id=event.id, tenant_id=event.tenant_id, kind="mail", endpoint_id=None,
                          member_id=member_id, next_attempt_at=now, created_at=now) for member_id in mailed[key]]
        if len(made) == before and event.payload.startswith("v1."):
            nobody.append(event.id)  # sealed (user.deleted) and nobody to tell: kept nowhere
    for start in range(0, len(made), ROWS_PER_INSERT):  # one INSERT … VALUES (…), (…) per 500 rows
        db.session.execute(insert(Delivery).values(made[start:start + ROWS_PER_INSERT]))
    db.session.execute(update(OutboxEvent).where(OutboxEvent.id.in_([e.id for e in rows]))
                       .values(dispatched_at=now), execution_options={"synchronize_session": False})
    if nobody:
        db.session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(nobody)),
                           execution_options={"synchronize_session": False})
    return len(rows)


def _endpoints(tenant_ids: set[int]) -> dict[int, list[WebhookEndpoint]]:
    found: dict[int, list[WebhookEndpoint]] = {}
    for endpoint in db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.tenant_id.in_(tenant_ids),
                                                                     WebhookEndpoint.enabled.is_(True))):
        found.setdefault(endpoint.tenant_id, []).append(endpoint)
    return found
