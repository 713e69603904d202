"""Deliveries: claim a batch of due ones under a lease, prepare each for sending, send it (a signed
POST, or a mail) on a pool thread. What happened is recorded by recording.py, a batch at a time.

Claiming is ONE statement: `UPDATE outbox_delivery SET claim, claimed_until WHERE id IN (SELECT …
due … ORDER BY next_attempt_at LIMIT n FOR UPDATE SKIP LOCKED) RETURNING …`, so workers on several
hosts never take the same row (on SQLite, which has one writer, the transaction is BEGIN
IMMEDIATE). The claim is a lease (`claimed_until`, SIGNET_WEBHOOK_LEASE_SECONDS): a worker killed
mid-delivery leaves a lease that expires, and the next worker sends the delivery again with the
same webhook-id so the receiver can tell.

Two workers never send one delivery at the same time: a send starts only if it can end before the
lease does (its timeout is cut to what is left of the lease, less a margin), otherwise it is not
sent and its claim is released. Everything a send needs is read here, in the claiming transaction,
so the pool threads never touch the database: they only talk HTTP or SMTP.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import inspect, or_, select, update
from sqlalchemy.orm.util import identity_key
from standardwebhooks import Webhook

from ...extensions import db
from ...infra import mailer, outbound
from ...infra.database import is_sqlite
from ...models import Delivery, Member, OutboxEvent, WebhookEndpoint
from ...models._types import utcnow
from .. import events
from . import endpoints, notify

TIMEOUT = 10.0  # seconds a POST may take, all included
MARGIN = 0.5  # seconds a send must end before its lease does
MIN_SEND = 1.0  # seconds: with less of the lease left, a send is not started
READ_BOUND = 4096  # bytes of an answer read
EXCERPT = 500  # characters of it kept with the attempt


@dataclass(frozen=True)
class Job:
    """One claimed delivery, with all its send needs (no database access on the pool thread)."""
    id: int
    claim: str
    lease_ends: float  # time.monotonic() by which the send must be over
    event_id: int
    endpoint_id: int | None
    sealed: bool
    webhook: tuple[str, str, str, bytes] | None = None  # url, secret, webhook-id, body
    mail: tuple[str, str, str, str] | None = None  # to, subject, body, console line
    skip: str = ""  # nothing to send any more: why


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None
    excerpt: str
    duration_ms: int
    skip: bool = False  # nothing to send any more (the endpoint was disabled, the conversation erased)
    unsent: bool = False  # the lease was too short to start: released, no attempt


def _due(now):
    return (Delivery.state == "pending", Delivery.next_attempt_at <= now,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now))


def anything_due() -> bool:
    """One cheap read: an undispatched event or a due delivery (an idle worker's poll)."""
    now = utcnow()
    waiting = select(OutboxEvent.id).where(OutboxEvent.dispatched_at.is_(None)).exists()
    due = select(Delivery.id).where(*_due(now)).exists()
    return bool(db.session.scalar(select(waiting | due)))


def lease_seconds() -> float:
    return float(current_app.config.get("SIGNET_WEBHOOK_LEASE_SECONDS", 60))


def claim(limit: int) -> list[Job]:
    """Inside the caller's write transaction: lease up to `limit` due deliveries to this worker
    (one UPDATE … RETURNING) and read what sending them needs (identity map first, then one
    SELECT per table for the rest)."""
    if limit <= 0:
        return []
    now, started = utcnow(), time.monotonic()
    token, lease = secrets.token_hex(8), lease_seconds()
    due = select(Delivery.id).where(*_due(now)).order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)
    if not is_sqlite():
        due = due.with_for_update(skip_locked=True)
    rows = db.session.execute(
        update(Delivery).where(Delivery.id.in_(due)).values(claimed_until=now + timedelta(seconds=lease), claim=token)
        .returning(Delivery.id, Delivery.event_id, Delivery.kind, Delivery.endpoint_id, Delivery.member_id),
        execution_options={"synchronize_session": False}).all()
    if not rows:
        return []
    found = {OutboxEvent: _load(OutboxEvent, {r.event_id for r in rows}),
             WebhookEndpoint: _load(WebhookEndpoint, {r.endpoint_id for r in rows if r.endpoint_id}),
             Member: _load(Member, {r.member_id for r in rows if r.member_id})}
    secrets_of: dict[int, str] = {}
    return [_prepare(r, token, started + lease, found, secrets_of) for r in sorted(rows, key=lambda r: r.id)]


def _load(model, ids: set[int]) -> dict:
    """Rows by id: those the session already holds (the fan-out just read them), the rest in one SELECT."""
    have = {i: db.session.identity_map.get(identity_key(model, i)) for i in ids}
    missing = [i for i, row in have.items() if row is None or inspect(row).expired]
    if missing:
        have.update({row.id: row for row in db.session.scalars(select(model).where(model.id.in_(missing)))})
    return have


def _prepare(row, token: str, lease_ends: float, found: dict, secrets_of: dict) -> Job:
    event = found[OutboxEvent][row.event_id]
    job = dict(id=row.id, claim=token, lease_ends=lease_ends, event_id=row.event_id, endpoint_id=row.endpoint_id,
               sealed=event.payload.startswith("v1."))
    if row.kind == "mail":
        member = found[Member].get(row.member_id)
        mail = notify.compose(event, member) if member is not None else None
        if mail is None:
            return Job(**job, skip="nothing to mail any more")
        return Job(**job, mail=(member.email, *mail))
    endpoint = found[WebhookEndpoint].get(row.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        return Job(**job, skip="endpoint disabled")
    if endpoint.id not in secrets_of:
        secrets_of[endpoint.id] = endpoints.secret_of(endpoint)
    return Job(**job, webhook=(endpoint.url, secrets_of[endpoint.id], event.public_id,
                               events.body(event).encode("utf-8")))


def send(job: Job) -> Outcome:
    """On a pool thread, inside an app context (configuration only; no database)."""
    if job.skip:
        return Outcome(False, None, job.skip, 0, skip=True)
    left = job.lease_ends - MARGIN - time.monotonic()
    if left < MIN_SEND:
        return Outcome(False, None, "lease too short to send", 0, unsent=True)
    if job.mail is not None:
        return _mail(*job.mail)
    return _post(*job.webhook, timeout=min(TIMEOUT, left))


def sign(secret: str, event_id: str, body: bytes, now=None) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt (the timestamp is the attempt's)."""
    now = now or utcnow()
    return {"content-type": "application/json", "webhook-id": event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(event_id, now, body)}


def _post(url: str, secret: str, event_id: str, body: bytes, timeout: float) -> Outcome:
    headers = sign(secret, event_id, body)
    started = time.monotonic()
    try:
        answer = outbound.fetch(url, method="POST", body=body, headers=headers, timeout=timeout, max_bytes=READ_BOUND)
    except outbound.OutboundRefused as error:
        return Outcome(False, None, f"refused: {error.message}"[:EXCERPT], _ms(started))
    except outbound.OutboundFailed as error:
        return Outcome(False, None, error.reason[:EXCERPT], _ms(started))
    excerpt = answer.body.decode("utf-8", "replace")[:EXCERPT]
    return Outcome(200 <= answer.status < 300, answer.status, excerpt, _ms(started))


def _mail(to: str, subject: str, body: str, console_line: str) -> Outcome:
    started = time.monotonic()
    try:
        mailer.send_now(to, subject, body, console_line=console_line)
    except Exception as error:  # noqa: BLE001 - SMTP, socket or configuration: retried later
        return Outcome(False, None, f"mail failed: {type(error).__name__}", _ms(started))
    return Outcome(True, None, "mailed", _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
