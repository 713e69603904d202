"""One-time email sign-in links of the hosted page (API.md §5): only a hash of the token is kept."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ._types import UTCDateTime, utcnow


class EmailSignIn(db.Model):
    """A mailed link: SHA-256 of its random token, who asked, until when, and whether it was used.

    `used_at` is set once, by a conditional UPDATE (unused and unexpired), so a link signs in at
    most once even when two clicks race.
    """

    __tablename__ = "email_sign_in"
    __table_args__ = (Index("ix_email_sign_in_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the token
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    requested_ip: Mapped[str | None] = mapped_column(String(64), default=None)
