"""End users (identified or anonymous visitors), organizations, and who belongs to which."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, event, func,
                        inspect, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ._types import UTCDateTime, utcnow

ANONYMOUS_NAME = "Anonymous visitor"  # what a visitor without a name, email or id is called


class EndUser(db.Model):
    """A person using the tenant's app: identified by the tenant's id for them (`external_id`),
    or an anonymous visitor (external_id NULL, `visitor_id` set) once they start a conversation.
    """

    __tablename__ = "end_user"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        UniqueConstraint("tenant_id", "visitor_id"),
        CheckConstraint("(anonymous AND external_id IS NULL AND visitor_id IS NOT NULL)"
                        " OR (NOT anonymous AND external_id IS NOT NULL)", name="identity"),
        Index("ix_end_user_tenant_email", "tenant_id", func.lower(text("email"))),
        Index("ix_end_user_tenant_name", "tenant_id", func.lower(text("name"))),
        Index("ix_end_user_tenant_last_seen", "tenant_id", "last_seen_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    visitor_id: Mapped[str | None] = mapped_column(String(128), default=None)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    name: Mapped[str | None] = mapped_column(String(255), default=None)
    avatar_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    attrs: Mapped[dict] = mapped_column(JSON, default=dict)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # How it was verified: "token" (setUser({jwt}) / <signet-widget>), "login_link" (with the key)
    # or "email" (email sign-in: no key).
    verified_via: Mapped[str | None] = mapped_column(String(16), default=None)
    verified_alg: Mapped[str | None] = mapped_column(String(8), default=None)
    verified_kid: Mapped[str | None] = mapped_column(String(64), default=None)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The stored email was proven: it came from signed data or an email sign-in, never from
    # unsigned data. Only such a user is signed in by that email (email sign-in, login-only links).
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_via: Mapped[str] = mapped_column(String(16), default="widget")  # widget | login_link | email
    # Bumped by "end all sessions": every session carries the value it was issued under and ends
    # once it is behind (services/end_users/sessions.check).
    sessions_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Bumped by every set-user write: the attrs-only UPDATE applies only if the row (memberships
    # included) is still the version it read, else the call takes the locked path (services/end_users/user_writes.py).
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    memberships: Mapped[list[OrgMembership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="OrgMembership.position"
    )

    @property
    def display_name(self) -> str:
        """The one name pages show for a user: their name, else email, else id; a visitor has none."""
        return self.name or self.email or self.external_id or ANONYMOUS_NAME


@event.listens_for(EndUser, "before_update")
def _next_version(_mapper, _connection, user: EndUser) -> None:
    """Every ORM update of a user (email sign-in, a login-only link, the dashboard) moves its
    version on, unless the writer set it: the attrs-only set-user UPDATE relies on it."""
    if not inspect(user).attrs.version.history.has_changes():
        user.version = EndUser.version + 1


class Organization(db.Model):
    __tablename__ = "organization"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        Index("ix_organization_tenant_name", "tenant_id", func.lower(text("name"))),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    attrs: Mapped[dict] = mapped_column(JSON, default=dict)
    # Described by signed data at least once: from then on only signed data renames, changes or joins it.
    signed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OrgMembership(db.Model):
    """A user's membership in an organization; `position` keeps the order the app sent.

    `signed`: made by signed data. Only signed memberships widen a `ctx` scope (<signet-dashboard>).
    """

    __tablename__ = "org_membership"

    user_id: Mapped[int] = mapped_column(ForeignKey("end_user.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    signed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    user: Mapped[EndUser] = relationship(back_populates="memberships")
    organization: Mapped[Organization] = relationship(lazy="joined")


class RevokedSession(db.Model):
    """A widget session ended on the server (logout); kept until the session would have expired."""

    __tablename__ = "revoked_session"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
