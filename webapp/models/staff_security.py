"""What protects the people who hold the keys (issue 17): the audit log of every change and
login, the dashboard's server-side sessions, and a workspace's single sign-on provider."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ._types import UTCDateTime, utcnow


class AuditEntry(db.Model):
    """One change or login in a workspace: who (a member's email, "command line", "api key …"),
    what (a dotted action, its target, before → after without any secret), when and from where.
    Written in the change's own transaction (services/audit.record), so neither exists alone."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_tenant_id_at_id", "tenant_id", "at", "id"),
        Index("ix_audit_entry_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(254))
    actor_member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255), default="")
    before: Mapped[dict | None] = mapped_column(JSON, default=None)
    after: Mapped[dict | None] = mapped_column(JSON, default=None)
    address: Mapped[str] = mapped_column(String(64), default="")
