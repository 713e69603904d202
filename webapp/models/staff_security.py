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


class DashboardSession(db.Model):
    """One signed-in dashboard browser. The login cookie names it (by a random key whose SHA-256
    is stored here); each request's member lookup reads it in the same statement, so revoking the
    row ends the session at once, in every process. `last_seen_at` is written at most once a
    minute per session (services/workspace/dashboard_sessions.SEEN_EVERY)."""

    __tablename__ = "dashboard_session"
    __table_args__ = (Index("ix_dashboard_session_last_seen_at", "last_seen_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    method: Mapped[str] = mapped_column(String(16), default="password")  # "password" or "sso"
    # The workspace whose SSO provider made this session (method "sso"): only there does it stand
    # in for two-factor (dashboard/access.py); None for every other session.
    sso_tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenant.id", ondelete="SET NULL"), index=True,
                                                      default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(120), default="")  # a summary: "Chrome on Linux"
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class SsoProvider(db.Model):
    """A workspace's OpenID Connect provider for its staff: members whose address is in
    `email_domain` (unique across workspaces) sign in through it. The client secret is sealed
    with the signing secrets' box (identity/secretbox.py), never stored in plaintext."""

    __tablename__ = "sso_provider"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), unique=True)
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_ciphertext: Mapped[str] = mapped_column(Text)
    email_domain: Mapped[str] = mapped_column(String(253), unique=True)  # lower-case
    default_role: Mapped[str] = mapped_column(String(16), default="agent")
    sso_only: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
