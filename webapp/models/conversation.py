"""Conversations between an end user and the tenant's staff, and their messages."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ._types import UTCDateTime, utcnow
from .end_user import EndUser

STAFF_NAME_FALLBACK = "Support"  # a staff message without a stored staff name


class Conversation(db.Model):
    __tablename__ = "conversation"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        Index("ix_conversation_tenant_updated", "tenant_id", "updated_at"),
        Index("ix_conversation_user_updated", "user_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("end_user.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(8), default="open")
    connection_id: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Staff have read everything up to this message id (unread markers in the inbox).
    staff_read_message_id: Mapped[int] = mapped_column(Integer, default=0)
    unread_by_staff: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[EndUser] = relationship()


class Message(db.Model):
    __tablename__ = "message"
    __table_args__ = (
        CheckConstraint("author IN ('user', 'staff')", name="author"),
        Index("ix_message_conversation_id", "conversation_id", "id"),
        UniqueConstraint("conversation_id", "client_message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversation.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    staff_member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"), default=None)
    staff_name: Mapped[str | None] = mapped_column(String(254), default=None)
    # The widget's own id for a user's message (`clientMessageId`): a retry naming it again gets the
    # stored message, never a second one (unique within the conversation).
    client_message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # How the sender was identified when the message was written (issue 16): the session's kind
    # (anonymous, unsigned, token, login_link, email, …) or "staff"; `sender_key` names the key,
    # secret or provider that verified it. NULL for messages written before this was recorded.
    sender_via: Mapped[str | None] = mapped_column(String(32), default=None)
    sender_key: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def staff_label(self) -> str:
        """Who a staff message is shown from, in the inbox and the widget: the staff member's name
        as stored with the message, else the team's generic name."""
        return self.staff_name or STAFF_NAME_FALLBACK
