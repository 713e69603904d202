"""What the sends of a batch did, recorded in ONE transaction: every attempt (one multi-row
INSERT), the deliveries that succeeded (one UPDATE per claim token, only where the claim is still
ours), the endpoints that answered cleared of `failing_since` (one UPDATE); failures and skips, which
are rare, row by row.

A result is applied only while its claim is still the delivery's own: a worker whose lease ran out
records its attempt, but the worker that took the delivery over decides its state.

Retries: exponential backoff with ±20 % jitter over about a day (RETRY_DELAYS, multiplied by
SIGNET_WEBHOOK_BACKOFF_SCALE), then the delivery is "failed". An endpoint that failed without
a single success for SIGNET_WEBHOOK_DISABLE_AFTER (5 days) is disabled and its owners mailed.
"""
from __future__ import annotations

import random
from datetime import timedelta

from flask import current_app
from sqlalchemy import insert, select, update

from ...extensions import db
from ...infra.database import writing
from ...models import Delivery, DeliveryAttempt, OutboxEvent, WebhookEndpoint
from ...models._types import utcnow
from .. import events
from .delivery import Job, Outcome

RETRY_DELAYS = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 43200)  # seconds: ~27 h in all
NO_SYNC = {"synchronize_session": False}


def delay(attempts: int) -> float | None:
    """Seconds before the next try after `attempts` failed ones; None: give up."""
    if attempts > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[attempts - 1] * current_app.config.get("SIGNET_WEBHOOK_BACKOFF_SCALE", 1.0)
    return base * random.uniform(0.8, 1.2)


def record(results: list[tuple[Job, Outcome]]) -> None:
    """One transaction for the whole batch."""
    if not results:
        return
    now = utcnow()
    with writing():
        tried = [(job, out) for job, out in results if not (out.skip or out.unsent)]
        if tried:
            db.session.execute(insert(DeliveryAttempt), [
                {"delivery_id": job.id, "started_at": now, "ok": out.ok, "duration_ms": out.duration_ms,
                 "status": out.status, "excerpt": out.excerpt} for job, out in tried])
        done = _delivered([job for job, out in results if out.ok], now)
        for job, out in results:
            if not out.ok:
                _not_delivered(job, out, now)
        for job in done:
            if job.sealed:
                _forget_if_sealed(job.event_id)


def _delivered(jobs: list[Job], now) -> list[Job]:
    """Mark delivered those still claimed by us; the jobs that were."""
    mine: set[int] = set()
    for token in {job.claim for job in jobs}:
        ids = [job.id for job in jobs if job.claim == token]
        mine.update(db.session.scalars(
            update(Delivery).where(Delivery.id.in_(ids), Delivery.claim == token)
            .values(state="delivered", finished_at=now, attempts=Delivery.attempts + 1, claim=None,
                    claimed_until=None).returning(Delivery.id), execution_options=NO_SYNC))
    answered = {job.endpoint_id for job in jobs if job.endpoint_id is not None}
    if answered:  # a success ends an endpoint's failing streak
        db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id.in_(answered),
                                                         WebhookEndpoint.failing_since.is_not(None))
                           .values(failing_since=None), execution_options=NO_SYNC)
    return [job for job in jobs if job.id in mine]


def _not_delivered(job: Job, outcome: Outcome, now) -> None:
    delivery = db.session.get(Delivery, job.id, with_for_update=True, populate_existing=True)
    if delivery is None or delivery.claim != job.claim:
        return  # removed meanwhile, or the lease ran out and another worker took it: it decides
    delivery.claim, delivery.claimed_until = None, None
    if outcome.unsent:
        return  # released: due again at once, no attempt made
    if outcome.skip:
        delivery.state, delivery.finished_at = "cancelled", now
    else:
        delivery.attempts += 1
        wait = delay(delivery.attempts)
        if wait is None:
            delivery.state, delivery.finished_at = "failed", now
        else:
            delivery.next_attempt_at = now + timedelta(seconds=wait)
        if delivery.endpoint_id is not None:
            _endpoint_failed(delivery.endpoint_id, now)
    if delivery.state != "pending" and job.sealed:
        _forget_if_sealed(delivery.event_id)


def _forget_if_sealed(event_id: int) -> None:
    """A sealed event (user.deleted) is deleted once none of its deliveries is pending."""
    db.session.flush()
    if db.session.scalar(select(Delivery.id).where(Delivery.event_id == event_id, Delivery.state == "pending")
                         .limit(1)) is None:
        event = db.session.get(OutboxEvent, event_id)
        if event is not None:
            db.session.delete(event)


def _endpoint_failed(endpoint_id: int, now) -> None:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id, with_for_update=True)
    if endpoint is None:
        return
    endpoint.failing_since = endpoint.failing_since or now
    limit = timedelta(seconds=current_app.config.get("SIGNET_WEBHOOK_DISABLE_AFTER", 5 * 86400))
    if endpoint.enabled and now - endpoint.failing_since >= limit:
        disable(endpoint, f"Every delivery failed since {events.iso(endpoint.failing_since)}.")


def disable(endpoint: WebhookEndpoint, reason: str) -> None:
    """In the caller's transaction: no more deliveries, pending ones cancelled, owners mailed."""
    endpoint.enabled, endpoint.disabled_reason = False, reason[:200]
    db.session.execute(update(Delivery).where(Delivery.endpoint_id == endpoint.id, Delivery.state == "pending")
                       .values(state="cancelled", finished_at=utcnow()), execution_options=NO_SYNC)
    events.emit(endpoint.tenant_id, events.ENDPOINT_DISABLED_TYPE,
                {"endpoint": endpoint.public_id, "url": endpoint.url, "reason": reason})
