"""Dashboard accounts and their roles in tenants."""
from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ._types import UTCDateTime, utcnow
from .tenant import Tenant

ROLES = ("owner", "admin", "agent")


class Member(UserMixin, db.Model):
    __tablename__ = "member"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(255))
    # Part of the login cookie: bumping it (password change) ends every session.
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the owner of the address proved it (a mailed link); None: the account can only verify.
    # The operator's CLI sets it at creation (trusted); migration 0005 grandfathered older rows.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    memberships: Mapped[list[Membership]] = relationship(back_populates="member", cascade="all, delete-orphan")

    # The dashboard session this request runs in (auth.views sets both; not a column): the login
    # cookie names the session row by its random key (models/staff_security.DashboardSession).
    session_key = ""
    dashboard_session = None

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}:{self.session_key}"

    @property
    def is_verified(self) -> bool:
        return self.email_verified_at is not None


class Membership(db.Model):
    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("tenant_id", "member_id"),
        CheckConstraint("role IN ('owner', 'admin', 'agent')", name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tenant: Mapped[Tenant] = relationship()
    member: Mapped[Member] = relationship(back_populates="memberships")

    @property
    def can_manage(self) -> bool:
        """Owners and admins manage settings, secrets and keys; agents work the inbox."""
        return self.role in ("owner", "admin")
