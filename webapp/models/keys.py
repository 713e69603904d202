"""A tenant's verification keys (HS256 signing secrets and uploaded public keys), used jtis, rejections."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ._types import UTCDateTime, utcnow


class VerificationKeyRow(db.Model):
    """One secret or public key, pinned to one algorithm at creation.

    Live = not revoked and (no grace end, or a grace end still ahead). A signing secret is stored
    only encrypted (AES-GCM, bound to its kid); a public key as normalized SPKI PEM.
    """

    __tablename__ = "verification_key"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kid"),
        CheckConstraint("kind IN ('secret', 'public_key')", name="kind"),
        CheckConstraint("alg IN ('HS256', 'EdDSA', 'ES256', 'PS256', 'RS256')", name="alg"),
        CheckConstraint(
            "(kind = 'secret' AND alg = 'HS256' AND secret_ciphertext IS NOT NULL AND public_pem IS NULL)"
            " OR (kind = 'public_key' AND alg <> 'HS256' AND public_pem IS NOT NULL AND secret_ciphertext IS NULL)",
            name="material",
        ),
        Index("ix_verification_key_tenant_live", "tenant_id", "revoked_at", "grace_ends_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    kid: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    alg: Mapped[str] = mapped_column(String(8))
    secret_ciphertext: Mapped[str | None] = mapped_column(Text, default=None)
    secret_hint: Mapped[str | None] = mapped_column(String(16), default=None)  # last 4 chars, for the mask
    public_pem: Mapped[str | None] = mapped_column(Text, default=None)
    fingerprint: Mapped[str | None] = mapped_column(String(128), default=None)
    label: Mapped[str | None] = mapped_column(String(120), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    grace_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    def state(self, now: datetime) -> str:
        """active, grace (replaced, still valid until grace_ends_at), expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.grace_ends_at is None:
            return "active"
        return "grace" if self.grace_ends_at > now else "expired"

    def revocable(self, now: datetime) -> bool:
        """Whether revoking still changes anything: only a live one (active or in grace) is offered."""
        return self.state(now) in ("active", "grace")

    @property
    def masked_secret(self) -> str | None:
        """A signing secret as pages and the CLI show it, never the secret: ``sk_…`` and its last
        four characters. None for a public key."""
        return f"sk_…{self.secret_hint}" if self.kind == "secret" else None


class UsedJti(db.Model):
    """A one-time token's jti, kept until the token's exp + leeway; the key holds across processes."""

    __tablename__ = "used_jti"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True)
    jti: Mapped[str] = mapped_column(String(255), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Rejection(db.Model):
    """A verification failure, or in report mode an unsigned call that `required` would refuse.

    Never the token itself: only what helps the integrator fix their side.
    """

    __tablename__ = "rejection"
    __table_args__ = (Index("ix_rejection_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16), default="refused")  # refused | would_refuse
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(500), default="")
    kid: Mapped[str | None] = mapped_column(String(255), default=None)
    alg: Mapped[str | None] = mapped_column(String(32), default=None)
    origin: Mapped[str | None] = mapped_column(String(255), default=None)
    source: Mapped[str] = mapped_column(String(32), default="widget")  # widget | login_link | debugger
