"""The outbox (events written with the change that caused them), webhook endpoints, deliveries
with their attempts, and staff notification choices (issue 13; docs/ARCHITECTURE.md "Outbox")."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ._types import UTCDateTime, utcnow

NOTIFY_MODES = ("every", "waiting", "never")


class OutboxEvent(db.Model):
    """One event, added in the transaction of the change it describes (services/events.emit).
    `payload` is the exact JSON body every endpoint receives; `dispatched_at` is set when the
    worker has fanned it out into deliveries (one per endpoint or mail recipient)."""

    __tablename__ = "outbox_event"
    __table_args__ = (Index("ix_outbox_event_undispatched", "dispatched_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)  # the webhook-id header
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    # "user:<end_user.id>": what erasure finds and removes with the person (None: not about one).
    subject: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[str] = mapped_column(String(500), default="")  # space-separated; "" = every event
    secret_ciphertext: Mapped[str] = mapped_column(Text)  # keyring.secret_box(), bound to public_id
    secret_hint: Mapped[str] = mapped_column(String(8))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def masked_secret(self) -> str:
        return "whsec_…" + self.secret_hint

    @property
    def event_list(self) -> list[str]:
        return self.events.split() if self.events else []


class Delivery(db.Model):
    """One event for one consumer: a webhook endpoint, or a member's mailbox (`member_id` with
    `kind` "mail"). `claimed_until` is a worker's lease; an expired one is taken by the next."""

    __tablename__ = "outbox_delivery"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'delivered', 'failed', 'cancelled')", name="state"),
        CheckConstraint("kind IN ('webhook', 'mail')", name="kind"),
        Index("ix_outbox_delivery_due", "state", "next_attempt_at"),
        Index("ix_outbox_delivery_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_event.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8), default="webhook")
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_endpoint.id", ondelete="CASCADE"),
                                                    default=None)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), default=None,
                                                  index=True)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    claim: Mapped[str | None] = mapped_column(String(32), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    event: Mapped[OutboxEvent] = relationship()


class DeliveryAttempt(db.Model):
    """Every try: when, how long, the HTTP status (None: no answer) and a bounded excerpt."""

    __tablename__ = "outbox_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("outbox_delivery.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[int | None] = mapped_column(Integer, default=None)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    excerpt: Mapped[str] = mapped_column(String(500), default="")


class NotificationSetting(db.Model):
    """A member's choice of mails for one workspace: every new conversation, conversations waiting
    for a reply longer than `wait_minutes`, or never (no row: never)."""

    __tablename__ = "notification_setting"
    __table_args__ = (
        UniqueConstraint("membership_id"),
        CheckConstraint("mode IN ('every', 'waiting', 'never')", name="mode"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8), default="never")
    wait_minutes: Mapped[int] = mapped_column(Integer, default=15)


class WaitNotice(db.Model):
    """A "still waiting" mail already queued for this member about this wait (the conversation's
    first unanswered user message), so the worker's periodic check mails once per wait."""

    __tablename__ = "wait_notice"
    __table_args__ = (UniqueConstraint("membership_id", "conversation_id", "message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("membership.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
