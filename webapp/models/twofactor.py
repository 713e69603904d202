"""A member's second factors (issue 17): an authenticator app (TOTP), its one-time recovery
codes, and passkeys (WebAuthn). A member "has two-factor" once a TOTP is confirmed or a passkey
is registered; services/workspace/twofactor.py and passkeys.py hold the rules.

No secret is stored readable: the TOTP seed is sealed with the secret box (the key derived from
SIGNET_SECRET_KEY that seals HS256 secrets), recovery codes are kept as SHA-256 of 80 random bits,
and a passkey row holds only the credential's public key.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ._types import UTCDateTime, utcnow


class TotpFactor(db.Model):
    """One authenticator app per member. `confirmed_at` None: an enrolment not confirmed with a
    code yet (it counts for nothing). `last_step`: the 30-second time step of the last code
    accepted; a code of that step or an earlier one is refused (no replay within its window)."""

    __tablename__ = "totp_factor"

    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), primary_key=True)
    seed_ciphertext: Mapped[str] = mapped_column(String(255))  # secret_box(), aad "totp:<member id>"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_step: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RecoveryCode(db.Model):
    """A one-time code for a member who lost their authenticator; used up by a conditional UPDATE."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)  # hex SHA-256 of the normalised code
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Passkey(db.Model):
    """A WebAuthn credential a member registered, under the name they gave it."""

    __tablename__ = "passkey"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url, as browsers send it
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE key
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
