"""A tenant: one customer workspace and its identity settings."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ._types import UTCDateTime, utcnow

VERIFICATION_MODES = ("optional", "report", "required")
EMAIL_SIGN_IN_MODES = ("off", "existing", "create")


class Tenant(db.Model):
    __tablename__ = "tenant"
    __table_args__ = (
        CheckConstraint("verification_mode IN ('optional', 'report', 'required')", name="verification_mode"),
        CheckConstraint("email_sign_in IN ('off', 'existing', 'create')", name="email_sign_in"),
        CheckConstraint("seat_limit IS NULL OR seat_limit >= 0", name="seat_limit"),
        CheckConstraint("unsigned_user_limit IS NULL OR unsigned_user_limit >= 0", name="unsigned_user_limit"),
        CheckConstraint("login_links_max_age IS NULL OR login_links_max_age > 0", name="max_age"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The public id customers paste into snippets and URLs.
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    verification_mode: Mapped[str] = mapped_column(String(16), default="optional")
    allowed_origins: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Seats: identified users the tenant vouches for (verified). Unsigned users have their own cap.
    seat_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    unsigned_user_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    audience: Mapped[str] = mapped_column(String(255), default="signet-widget")
    require_audience: Mapped[bool] = mapped_column(Boolean, default=False)
    issuer: Mapped[str | None] = mapped_column(String(255), default=None)
    login_links_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    login_links_require_jti: Mapped[bool] = mapped_column(Boolean, default=False)
    login_links_max_age: Mapped[int | None] = mapped_column(Integer, default=None)
    email_sign_in: Mapped[str] = mapped_column(String(16), default="existing")
    # Legacy user hash (issue 14): setUser({id, userHash}) proves the id with an HMAC of a live secret.
    legacy_user_hash: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Bumped whenever a key or secret changes, so every process reloads its cached keyring.
    keys_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Bumped when the tenant switches to `required`: an unsigned session carries the value it was
    # issued under and ends once it is behind (services/end_users/sessions.check).
    unsigned_sessions_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Owners can require two-factor: members without a factor must set one up before anything else.
    require_two_factor: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Anonymous visitors (set-user {id: null}) allowed; when not, the launcher of an unidentified
    # visitor shows `anonymous_text` instead of a chat (issue 16).
    anonymous_visitors: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    anonymous_text: Mapped[str | None] = mapped_column(String(500), default=None)
    # The event types an enabled webhook endpoint subscribes to ("" none, "*" every one, else the
    # types space-separated), kept by services/webhooks/endpoints in the transaction that changes
    # an endpoint: a user write records a user.* event only when one is wanted (no query for it).
    webhook_events: Mapped[str] = mapped_column(String(1000), default="", server_default="")

    def __repr__(self) -> str:
        return f"<Tenant {self.public_id}>"
