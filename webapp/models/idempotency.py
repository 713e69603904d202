"""Idempotency keys of the widget API's creating writes (docs/CONTRACT-NOTES.md, "Idempotency")."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ._types import UTCDateTime, utcnow


class IdempotencyKey(db.Model):
    """The first answer to a write sent with an `Idempotency-Key`, written in the same transaction
    as the write itself: a key is stored if and only if its write was. One row per tenant, session
    subject ("user:<row id>" or "visitor:<visitor id>") and key; kept 24 hours, then pruned."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        UniqueConstraint("tenant_id", "subject", "key"),
        Index("ix_idempotency_key_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of method, path and JSON body
    status: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)  # the JSON body answered, at most MAX_STORED bytes
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
