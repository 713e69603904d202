"""Deliveries: claim due ones under a lease, send each (a signed POST, or a mail), record the attempt.

Claiming is one short transaction: on PostgreSQL `SELECT … FOR UPDATE SKIP LOCKED` over the due
rows, so workers on several hosts never take the same one; on SQLite BEGIN IMMEDIATE (one worker).
The claim is a lease (`claimed_until`, SIGNET_WEBHOOK_LEASE_SECONDS, longer than one send can
take: 10 s timeout): a worker killed mid-delivery leaves a lease that expires, and the next worker
sends the delivery again, with the same webhook-id so the receiver can tell. A result is applied
only while its claim is still the delivery's own (`claim` token); every attempt is recorded.

Retries: exponential backoff with ±20 % jitter over about a day (RETRY_DELAYS, multiplied by
SIGNET_WEBHOOK_BACKOFF_SCALE), then the delivery is "failed". An endpoint that failed without
a single success for SIGNET_WEBHOOK_DISABLE_AFTER (5 days) is disabled and its owners mailed.
"""
from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, select, update
from standardwebhooks import Webhook

from ...extensions import db
from ...infra import mailer, outbound
from ...infra.database import is_sqlite, writing
from ...models import Delivery, DeliveryAttempt, Member, OutboxEvent, WebhookEndpoint
from ...models._types import utcnow
from .. import events
from . import endpoints, notify

RETRY_DELAYS = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 43200)  # seconds: ~27 h in all
TIMEOUT = 10.0
READ_BOUND = 4096  # bytes of an answer read
EXCERPT = 500  # characters of it kept with the attempt


@dataclass(frozen=True)
class Claimed:
    id: int
    claim: str


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None
    excerpt: str
    duration_ms: int
    skip: bool = False  # nothing to send any more (the endpoint was disabled, the conversation erased)


def _due(now):
    return (Delivery.state == "pending", Delivery.next_attempt_at <= now,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now))


def claim(limit: int) -> list[Claimed]:
    """Up to `limit` due deliveries, leased to this worker."""
    now = utcnow()
    if limit <= 0 or db.session.scalar(select(Delivery.id).where(*_due(now)).limit(1)) is None:
        db.session.rollback()
        return []
    token = secrets.token_hex(8)
    lease = timedelta(seconds=current_app.config.get("SIGNET_WEBHOOK_LEASE_SECONDS", 60))
    with writing():
        stmt = select(Delivery.id).where(*_due(now)).order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)
        if not is_sqlite():
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list(db.session.scalars(stmt))
        if ids:
            db.session.execute(update(Delivery).where(Delivery.id.in_(ids))
                               .values(claimed_until=now + lease, claim=token))
    return [Claimed(i, token) for i in ids]


def run(claimed: Claimed) -> None:
    """Send one claimed delivery and record what happened."""
    delivery = db.session.get(Delivery, claimed.id)
    if delivery is None or delivery.claim != claimed.claim:
        db.session.rollback()
        return
    event = db.session.get(OutboxEvent, delivery.event_id)
    if delivery.kind == "mail":
        outcome = _mail(event, db.session.get(Member, delivery.member_id))
    else:
        outcome = _post(event, db.session.get(WebhookEndpoint, delivery.endpoint_id))
    db.session.rollback()  # the reads' transaction ends before the write below
    record(claimed, outcome)


def sign(secret: str, event_id: str, body: bytes, now=None) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt (the timestamp is the attempt's)."""
    now = now or utcnow()
    return {"content-type": "application/json", "webhook-id": event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(event_id, now, body)}


def _post(event: OutboxEvent, endpoint: WebhookEndpoint) -> Outcome:
    if endpoint is None or not endpoint.enabled:
        return Outcome(False, None, "endpoint disabled", 0, skip=True)
    body = events.body(event).encode("utf-8")
    headers = sign(endpoints.secret_of(endpoint), event.public_id, body)
    started = time.monotonic()
    try:
        answer = outbound.fetch(endpoint.url, method="POST", body=body, headers=headers, timeout=TIMEOUT,
                                max_bytes=READ_BOUND)
    except outbound.OutboundRefused as error:
        return Outcome(False, None, f"refused: {error.message}"[:EXCERPT], _ms(started))
    except outbound.OutboundFailed as error:
        return Outcome(False, None, error.reason[:EXCERPT], _ms(started))
    excerpt = answer.body.decode("utf-8", "replace")[:EXCERPT]
    return Outcome(200 <= answer.status < 300, answer.status, excerpt, _ms(started))


def _mail(event: OutboxEvent, member: Member | None) -> Outcome:
    mail = notify.compose(event, member) if member is not None else None
    if mail is None:
        return Outcome(False, None, "nothing to mail any more", 0, skip=True)
    started = time.monotonic()
    subject, body, console_line = mail
    try:
        mailer.send_now(member.email, subject, body, console_line=console_line)
    except Exception as error:  # noqa: BLE001 - SMTP, socket or configuration: retried later
        return Outcome(False, None, f"mail failed: {type(error).__name__}", _ms(started))
    return Outcome(True, None, "mailed", _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def delay(attempts: int) -> float | None:
    """Seconds before the next try after `attempts` failed ones; None: give up."""
    if attempts > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[attempts - 1] * current_app.config.get("SIGNET_WEBHOOK_BACKOFF_SCALE", 1.0)
    return base * random.uniform(0.8, 1.2)


def record(claimed: Claimed, outcome: Outcome) -> None:
    now = utcnow()
    with writing():
        delivery = db.session.get(Delivery, claimed.id, with_for_update=True, populate_existing=True)
        if delivery is None:
            return  # its endpoint or event was removed meanwhile
        if not outcome.skip:
            db.session.add(DeliveryAttempt(delivery_id=delivery.id, started_at=now, ok=outcome.ok,
                                           duration_ms=outcome.duration_ms, status=outcome.status,
                                           excerpt=outcome.excerpt))
        if delivery.claim != claimed.claim:
            return  # the lease ran out and another worker took it: it decides the state
        delivery.claim, delivery.claimed_until = None, None
        if outcome.skip:
            delivery.state, delivery.finished_at = "cancelled", now
            return
        delivery.attempts += 1
        wait = None if outcome.ok else delay(delivery.attempts)
        if outcome.ok or wait is None:
            delivery.state, delivery.finished_at = ("delivered" if outcome.ok else "failed"), now
        else:
            delivery.next_attempt_at = now + timedelta(seconds=wait)
        if delivery.endpoint_id is not None:
            _endpoint_health(delivery.endpoint_id, outcome.ok, now)
        if delivery.state != "pending":
            _forget_if_sealed(delivery.event_id)


def _forget_if_sealed(event_id: int) -> None:
    """A sealed event (user.deleted) is deleted once none of its deliveries is pending."""
    event = db.session.get(OutboxEvent, event_id)
    if event is None or not event.payload.startswith("v1."):
        return
    db.session.flush()
    if db.session.scalar(select(Delivery.id).where(Delivery.event_id == event_id, Delivery.state == "pending")
                         .limit(1)) is None:
        db.session.delete(event)


def _endpoint_health(endpoint_id: int, ok: bool, now) -> None:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if ok:
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
        return
    endpoint.failing_since = endpoint.failing_since or now
    limit = timedelta(seconds=current_app.config.get("SIGNET_WEBHOOK_DISABLE_AFTER", 5 * 86400))
    if endpoint.enabled and now - endpoint.failing_since >= limit:
        disable(endpoint, f"Every delivery failed since {events.iso(endpoint.failing_since)}.")


def disable(endpoint: WebhookEndpoint, reason: str) -> None:
    """In the caller's transaction: no more deliveries, pending ones cancelled, owners mailed."""
    endpoint.enabled, endpoint.disabled_reason = False, reason[:200]
    db.session.execute(update(Delivery).where(Delivery.endpoint_id == endpoint.id, Delivery.state == "pending")
                       .values(state="cancelled", finished_at=utcnow()))
    events.emit(endpoint.tenant_id, events.ENDPOINT_DISABLED_TYPE,
                {"endpoint": endpoint.public_id, "url": endpoint.url, "reason": reason})
