"""API keys of the server API (/api/v1/server/, issue 13): a tenant's backend authenticates with one."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ._types import UTCDateTime, utcnow

API_KEY_SCOPES = ("read", "write")


class ApiKey(db.Model):
    """One key: `sk_live_<public id>_<secret>` shown once; only the SHA-256 of the whole key is kept
    (the secret is 32 random bytes: a fast hash is enough, nothing can be guessed).

    `last_used_at` is coalesced: written at most once a minute per key, never per call.
    A revoked key (`revoked_at` set) is refused at once: every request reads the row.
    """

    __tablename__ = "api_key"
    __table_args__ = (CheckConstraint("scope IN ('read', 'write')", name="scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    scope: Mapped[str] = mapped_column(String(8), default="read")
    key_hash: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the whole key
    created_by: Mapped[str] = mapped_column(String(254), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    @property
    def prefix(self) -> str:
        """What pages and the CLI show of a key: its prefix and id, never its secret."""
        return f"sk_live_{self.public_id.removeprefix('ak_')}_…"
