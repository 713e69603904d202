"""Staff accounts' one-time links and throttles: email verification and password-reset tokens,
team invitations, and the counters of the login, sign-up and reset throttles.

Every token is random and only its SHA-256 is stored; it is used up once, by a conditional
UPDATE (unused and unexpired), so two clicks racing use it once.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ._types import UTCDateTime, utcnow
from .member import Member
from .tenant import Tenant

TOKEN_PURPOSES = ("verify", "reset")


class StaffToken(db.Model):
    """A link mailed to a member: `verify` proves the address, `reset` sets a new password."""

    __tablename__ = "staff_token"
    __table_args__ = (
        CheckConstraint("purpose IN ('verify', 'reset')", name="purpose"),
        Index("ix_staff_token_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the token
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Invitation(db.Model):
    """A pending invitation to a workspace grants nothing: accepting it (the mailed token, signed
    in as `email`) creates the membership. Revoking deletes the row."""

    __tablename__ = "invitation"
    __table_args__ = (
        CheckConstraint("role IN ('owner', 'admin', 'agent')", name="role"),
        Index("ix_invitation_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))  # stored lower-cased
    role: Mapped[str] = mapped_column(String(16))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    tenant: Mapped[Tenant] = relationship()
    invited_by: Mapped[Member | None] = relationship()


class StaffThrottle(db.Model):
    """One fixed-window counter: the SHA-256 of its key (e.g. login + email), when the window
    began (Unix seconds) and the attempts counted in it. One upsert counts and reads it."""

    __tablename__ = "staff_throttle"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(Integer)
    hits: Mapped[int] = mapped_column(Integer)
