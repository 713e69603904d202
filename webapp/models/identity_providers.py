"""A tenant's identity providers (issue 14): an OIDC issuer whose ID tokens vouch for end users,
and, on the same row, the JWKS cache every process shares (one fetch serves every worker and host)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ._types import UTCDateTime, utcnow


class IdentityProvider(db.Model):
    """One provider: where its keys are and which of its tokens are meant for this workspace.

    `audiences` / `authorized_parties`: a token's `aud` must contain one of the first, or its
    `azp` equal one of the second (at least one list is non-empty, checked at setup).
    The jwks_* columns are the shared cache: the JWKS document as last fetched successfully
    (public keys only, at most 64 KiB), when, until when it is fresh, the last failure, the last
    refetch for an unknown kid (at most one a minute) and a fetch claimed by one process.
    """

    __tablename__ = "identity_provider"
    __table_args__ = (UniqueConstraint("tenant_id", "issuer"), UniqueConstraint("public_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    public_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(120))
    issuer: Mapped[str] = mapped_column(String(2048))
    jwks_url: Mapped[str] = mapped_column(String(2048))
    discovered: Mapped[bool] = mapped_column(Boolean, default=False)
    audiences: Mapped[list] = mapped_column(JSON, default=list)
    authorized_parties: Mapped[list] = mapped_column(JSON, default=list)
    id_claim: Mapped[str] = mapped_column(String(64), default="sub")
    attr_claims: Mapped[list] = mapped_column(JSON, default=list)
    organizations_claim: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    jwks_document: Mapped[str | None] = mapped_column(Text, default=None)
    jwks_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    jwks_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    jwks_error: Mapped[str | None] = mapped_column(String(500), default=None)
    jwks_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    jwks_refetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    jwks_fetching_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
