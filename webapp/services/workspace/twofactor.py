"""Staff two-factor (issue 17): an authenticator app (TOTP), one-time recovery codes, and the
rules both follow. Passkeys are in passkeys.py; the login flow in auth/twofactor_views.py.

- The TOTP seed is made here (160 random bits), sealed with the secret box (the key derived from
  SIGNET_SECRET_KEY that seals HS256 secrets, bound to "totp:<member id>"), and counts for
  nothing until a code from it is typed back (`confirm_totp`).
- A code is accepted once: the factor keeps the 30-second time step of the last code accepted,
  and an UPDATE that only moves it forward accepts a code (two requests racing with one code:
  one wins). Codes from the step before and after are accepted too (clock drift).
- Ten recovery codes of 80 random bits each, shown once, stored as SHA-256; each is used up by a
  conditional UPDATE. They exist while the member has a factor and go with the last one.
- Every change and every refused second factor is audited in each workspace the member belongs
  to (their owners see it), in the change's own transaction.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp
from sqlalchemy import delete, exists, func, or_, select, update

from ...extensions import db
from ...infra.database import writing
from ...models import Member, Membership, Passkey, RecoveryCode, TotpFactor
from ...models._types import utcnow
from .. import audit
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..keys.keyring import secret_box
from .members import password_matches

STEP = 30
ISSUER = "Signet"
RECOVERY_COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # 31 symbols; 16 of them: 79 bits


@dataclass(frozen=True)
class Enrolment:
    """A TOTP being set up: the seed (shown as text and as a QR code) and its otpauth:// URI."""

    seed: str
    uri: str


# ---- who has what --------------------------------------------------------------------------

def has_factor(member_id: int) -> bool:
    """A confirmed authenticator app or a passkey: the member must pass one at login."""
    totp = exists().where(TotpFactor.member_id == member_id, TotpFactor.confirmed_at.is_not(None))
    passkey = exists().where(Passkey.member_id == member_id)
    return bool(db.session.scalar(select(or_(totp, passkey))))


def members_with_factor(member_ids: list[int]) -> set[int]:
    """Which of these members have two-factor (the Team page): two queries for any number."""
    if not member_ids:
        return set()
    totp = select(TotpFactor.member_id).where(TotpFactor.member_id.in_(member_ids), TotpFactor.confirmed_at.is_not(None))
    keys = select(Passkey.member_id).where(Passkey.member_id.in_(member_ids))
    return set(db.session.scalars(totp)) | set(db.session.scalars(keys))


def totp_enabled(member_id: int) -> bool:
    row = db.session.get(TotpFactor, member_id)
    return row is not None and row.confirmed_at is not None


def recovery_codes_left(member_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.member_id == member_id, RecoveryCode.used_at.is_(None))) or 0


# ---- enrolment -----------------------------------------------------------------------------

def _aad(member_id: int) -> str:
    return f"totp:{member_id}"


def _enrolment(member: Member, seed: str) -> Enrolment:
    return Enrolment(seed, pyotp.TOTP(seed).provisioning_uri(name=member.email, issuer_name=ISSUER))


def start_totp(member: Member) -> Enrolment:
    """A new seed for the member's authenticator app, stored sealed and unconfirmed (replacing an
    unconfirmed one); refused while one is enabled (remove it first)."""
    seed = pyotp.random_base32(32)
    with writing():
        row = db.session.get(TotpFactor, member.id)
        if row is not None and row.confirmed_at is not None:
            raise Conflict("already_enabled", "An authenticator app is already set up: remove it first.")
        if row is None:
            row = TotpFactor(member_id=member.id)
            db.session.add(row)
        row.seed_ciphertext = secret_box().encrypt(seed, _aad(member.id))
        row.created_at, row.last_step = utcnow(), 0
    return _enrolment(member, seed)


def pending_totp(member: Member) -> Enrolment | None:
    """The enrolment started and not confirmed yet, to show its QR code again."""
    row = db.session.get(TotpFactor, member.id)
    if row is None or row.confirmed_at is not None:
        return None
    return _enrolment(member, secret_box().decrypt(row.seed_ciphertext, _aad(member.id)))


def confirm_totp(member: Member, code: str) -> list[str]:
    """Turn the app on with a code from it; returns the new recovery codes (shown once)."""
    with writing():
        row = db.session.get(TotpFactor, member.id)
        if row is None or row.confirmed_at is not None:
            raise Invalid("invalid_field", "Start the set-up again: scan the new QR code.", "code")
        step = _matching_step(secret_box().decrypt(row.seed_ciphertext, _aad(member.id)), code)
        if step is None:
            raise Invalid("invalid_field", "That code is not right. Type the 6 digits your app shows now.", "code")
        row.confirmed_at, row.last_step = utcnow(), step
        _record(member, "twofactor.enabled", after={"factor": "authenticator app"})
        return _new_recovery_codes(member.id)


def remove_totp(member: Member) -> None:
    with writing():
        deleted = db.session.execute(delete(TotpFactor).where(TotpFactor.member_id == member.id)).rowcount
        if deleted:
            _record(member, "twofactor.removed", before={"factor": "authenticator app"})
            drop_codes_without_factor(member.id)


# ---- checking a code at login ----------------------------------------------------------------

def _normal_code(code: str | None) -> str:
    return "".join((code or "").split())


def _matching_step(seed: str, code: str | None, now: float | None = None) -> int | None:
    """The time step (current, one before, one after) whose code this is, else None."""
    code = _normal_code(code)
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp, current = pyotp.TOTP(seed), int((time.time() if now is None else now) // STEP)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def check_totp(member_id: int, code: str | None) -> str:
    """'ok' (and the code's step is used up), 'reused' (a code already accepted, or an older
    one), or 'wrong'. One conditional UPDATE decides between racing requests."""
    row = db.session.get(TotpFactor, member_id)
    if row is None or row.confirmed_at is None:
        return "wrong"
    step = _matching_step(secret_box().decrypt(row.seed_ciphertext, _aad(member_id)), code)
    if step is None:
        return "wrong"
    with writing():
        moved = db.session.execute(update(TotpFactor).where(
            TotpFactor.member_id == member_id, TotpFactor.confirmed_at.is_not(None), TotpFactor.last_step < step,
        ).values(last_step=step)).rowcount
    return "ok" if moved == 1 else "reused"


def use_recovery_code(member: Member, code: str | None) -> bool:
    """Use up one recovery code (audited); False when it is unknown or used already."""
    digest = _code_hash(code)
    with writing():
        used = db.session.execute(update(RecoveryCode).where(
            RecoveryCode.member_id == member.id, RecoveryCode.code_hash == digest, RecoveryCode.used_at.is_(None),
        ).values(used_at=utcnow())).rowcount
        if used == 1:
            _record(member, "twofactor.recovery_code_used", after={"left": recovery_codes_left(member.id)},
                    actor=member.email, actor_member_id=member.id)  # at login: nobody is signed in yet
    return used == 1


def record_failure(member: Member, method: str, reason: str) -> None:
    """A refused second factor at login, in its own transaction (nothing else is written)."""
    with writing():
        _record(member, "twofactor.failed", after={"method": method, "reason": reason},
                actor=member.email, actor_member_id=member.id)


def reauthenticated(member: Member, proof: str | None) -> bool:
    """Whether `proof` is the member's current password, or a fresh code of their authenticator
    app (used up like a login code). Asked before a factor is removed or new recovery codes are
    made, so a stolen session cookie alone cannot strip or take over the second factor. The
    caller throttles (auth/reauth.py)."""
    compact = _normal_code(proof)
    if len(compact) == 6 and compact.isdigit() and totp_enabled(member.id):
        return check_totp(member.id, compact) == "ok"
    return bool(proof) and password_matches(member, proof)


# ---- recovery codes ------------------------------------------------------------------------

def _code_hash(code: str | None) -> str:
    normal = "".join(c for c in (code or "").lower() if c.isalnum())
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def _new_recovery_codes(member_id: int) -> list[str]:
    """Replace the member's codes with RECOVERY_COUNT new ones (in the caller's transaction)."""
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.member_id == member_id))
    codes = []
    for _ in range(RECOVERY_COUNT):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
        codes.append("-".join(raw[i:i + 4] for i in range(0, 16, 4)))
        db.session.add(RecoveryCode(member_id=member_id, code_hash=_code_hash(raw)))
    return codes


def regenerate_codes(member: Member) -> list[str]:
    """New codes (the old ones stop working); only for a member with a factor."""
    with writing():
        if not has_factor(member.id):
            raise Invalid("invalid_field", "Set up an authenticator app or a passkey first.")
        codes = _new_recovery_codes(member.id)
        _record(member, "twofactor.recovery_codes_made")
    return codes


def drop_codes_without_factor(member_id: int) -> None:
    """Recovery codes go with the last factor (in the caller's transaction)."""
    db.session.flush()
    if not has_factor(member_id):
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.member_id == member_id))


# ---- an owner or the operator removes a member's factors -------------------------------------

def member_of(tenant_id: int, email: str) -> Member:
    """The member of this workspace with this address (the CLI names them so)."""
    member = db.session.scalar(select(Member).join(Membership).where(
        Membership.tenant_id == tenant_id, Member.email == (email or "").strip().lower()))
    if member is None:
        raise NotFound("not_found", f"No member {email} in this workspace.", "email")
    return member


def reset_team_member(tenant_id: int, membership_id: int, acting_role: str) -> Member:
    """The Team page's "Remove two-factor": owners only (an admin could otherwise strip an
    owner's second factor before taking over their password)."""
    if acting_role != "owner":
        raise Forbidden("forbidden", "Only an owner can remove a member's two-factor.")
    member = db.session.scalar(select(Member).join(Membership).where(
        Membership.id == membership_id, Membership.tenant_id == tenant_id))
    if member is None:
        raise NotFound("not_found", "No such member in this workspace.")
    reset_member(tenant_id, member)
    return member


def reset_member(tenant_id: int, member: Member) -> bool:
    """Remove every factor of a member of this workspace (an owner on the Team page, or the CLI
    for a locked-out owner); audited in that workspace. False when there was nothing to remove."""
    with writing():
        had = has_factor(member.id)
        for model in (TotpFactor, Passkey, RecoveryCode):
            db.session.execute(delete(model).where(model.member_id == member.id))
        if had:
            audit.record(tenant_id, "twofactor.removed", member.email, before={"factors": "all"})
    return had


def _record(member: Member, action: str, *, before: dict | None = None, after: dict | None = None,
            actor: str | None = None, actor_member_id: int | None = None) -> None:
    """One entry in every workspace the member belongs to (in the current transaction)."""
    audit.record_for_member(member.id, action, member.email, before=before, after=after, actor=actor,
                            actor_member_id=actor_member_id)
