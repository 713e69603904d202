"""A tenant's signing secrets and public keys: create, replace with a grace window, revoke, load.

Loaded keys are cached per process. Every change bumps `tenant.keys_version` in the same
transaction, and each request reads the tenant row, so every process sees a change at once.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, or_, select, update

from ...infra.database import writes, writing
from ...extensions import db
from ...identity import keys as keytools
from ...identity.errors import KeyRefused
from ...identity.secretbox import SecretBox
from ...identity.verifier import VerificationKey
from ...models import Tenant, VerificationKeyRow
from ...models._types import utcnow
from .. import audit
from ..errors import Conflict, Invalid, NotFound
from ..end_users.snapshots import TenantSettings

MAX_LIVE_PER_ALG = keytools.MAX_LIVE_PER_ALG


@dataclass(frozen=True)
class _Cached:
    key: VerificationKey
    grace_ends_at: datetime | None


_cache_lock = threading.Lock()


def _cache() -> dict[int, tuple[int, list[_Cached]]]:
    """tenant id → (keys_version, loaded keys), per app (each app has its own database)."""
    return current_app.extensions.setdefault("signet_keycache", {})


def secret_box() -> SecretBox:
    box = current_app.extensions.get("signet_secretbox")
    if box is None:
        box = current_app.extensions["signet_secretbox"] = SecretBox(current_app.config["SECRET_KEY"])
    return box


def grace_seconds() -> int:
    return int(current_app.config["SIGNET_KEY_GRACE_SECONDS"])


def create_secret(tenant: Tenant, replace: bool = False, label: str | None = None) -> tuple[VerificationKeyRow, str]:
    """A new HS256 secret; the plaintext is returned this once and stored only encrypted."""
    label = _label(label)
    secret = keytools.generate_secret()
    kid = keytools.new_kid("sec")
    with writing():
        now = utcnow()
        _make_room(tenant, "HS256", now)
        if replace:
            _start_grace(tenant, "secret", now)
        row = VerificationKeyRow(
            tenant_id=tenant.id, kid=kid, kind="secret", alg="HS256", created_at=now, label=label,
            secret_ciphertext=secret_box().encrypt(secret, kid), secret_hint=secret[-4:],
        )
        db.session.add(row)
        audit.record(tenant.id, "secret.created", kid, after={"kid": kid, "label": label, "replace": replace})
    return row, secret


def add_public_key(
    tenant: Tenant, pem: str, alg: str | None = None, replace: bool = False, label: str | None = None
) -> VerificationKeyRow:
    """Pin an uploaded SPKI public key to one algorithm; KeyRefused (field "pem") when it cannot be."""
    parsed = keytools.parse_public_key(pem, alg or None)
    label = _label(label)
    with writing():
        now = utcnow()
        _make_room(tenant, parsed.alg, now)
        if replace:
            _start_grace(tenant, "public_key", now)
        row = VerificationKeyRow(
            tenant_id=tenant.id, kid=keytools.new_kid("key"), kind="public_key", alg=parsed.alg, created_at=now,
            public_pem=parsed.spki_pem, fingerprint=parsed.fingerprint, label=label,
        )
        db.session.add(row)
        audit.record(tenant.id, "key.added", row.kid, after={
            "kid": row.kid, "alg": parsed.alg, "fingerprint": parsed.fingerprint, "label": label, "replace": replace})
    return row


@writes
def revoke(tenant: Tenant, kid: str) -> VerificationKeyRow:
    """End a secret or key at once, and every widget session it made (sessions.check)."""
    row = db.session.scalar(
        select(VerificationKeyRow).where(VerificationKeyRow.tenant_id == tenant.id, VerificationKeyRow.kid == kid)
    )
    if row is None:
        raise NotFound("not_found", f"No secret or key with kid '{kid}' in this workspace.", "kid")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        _bump(tenant)
        audit.record(tenant.id, "secret.revoked" if row.kind == "secret" else "key.revoked", kid,
                     before={"state": "live"}, after={"state": "revoked"})
    return row


def list_keys(tenant: Tenant) -> list[VerificationKeyRow]:
    stmt = (
        select(VerificationKeyRow)
        .where(VerificationKeyRow.tenant_id == tenant.id)
        .order_by(VerificationKeyRow.created_at.desc(), VerificationKeyRow.id.desc())
    )
    return list(db.session.scalars(stmt))


def live_keys(tenant: TenantSettings, now: datetime) -> list[VerificationKey]:
    """Every active or in-grace key of the tenant at `now`, loaded once per process and version."""
    return [c.key for c in _cached_keys(tenant) if c.grace_ends_at is None or c.grace_ends_at > now]


def _cached_keys(tenant: TenantSettings) -> list[_Cached]:
    """The tenant's unrevoked keys for its current keys_version, loaded once per process."""
    cache = _cache()
    cached = cache.get(tenant.id)
    if cached is None or cached[0] != tenant.keys_version:
        with _cache_lock:
            cached = cache.get(tenant.id)
            if cached is None or cached[0] != tenant.keys_version:  # not loaded meanwhile by another thread
                cached = cache[tenant.id] = (tenant.keys_version, _load(tenant))
    return cached[1]


def unrevoked(tenant: TenantSettings, kid: str | None) -> bool:
    """Whether the tenant still holds `kid` unrevoked (active, in grace or past it): a widget
    session made with it lives on until then. From the per-process cache, so no query."""
    return any(c.key.kid == kid for c in _cached_keys(tenant))


def newest_active(tenant: TenantSettings, kind: str) -> VerificationKeyRow | None:
    """The tenant's newest active (not replaced, not revoked) secret or public key."""
    return db.session.scalar(
        select(VerificationKeyRow)
        .where(VerificationKeyRow.tenant_id == tenant.id, VerificationKeyRow.kind == kind,
               VerificationKeyRow.revoked_at.is_(None), VerificationKeyRow.grace_ends_at.is_(None))
        .order_by(VerificationKeyRow.created_at.desc(), VerificationKeyRow.id.desc())
        .limit(1)
    )


def newest_secret(tenant: Tenant) -> tuple[str, str] | None:
    """(kid, plaintext) of the tenant's newest active HS256 secret, for signing on the server's own
    behalf (the dashboard's test login link); None when it has none. Never shown or logged."""
    row = newest_active(tenant, "secret")
    if row is None:
        return None
    return row.kid, secret_box().decrypt(row.secret_ciphertext, row.kid)


def suspects(tenant: TenantSettings, alg: str, limit: int = 8) -> list:
    """The tenant's newest `limit` secrets or keys of `alg`, revoked and expired ones included, for
    the signature forensics (identity/forensics.py). One query; not cached (only refused tokens
    ask, and only those that failed their signature). Keys that cannot be loaded are left out."""
    from ...identity.forensics import Suspect

    rows = db.session.scalars(
        select(VerificationKeyRow).where(VerificationKeyRow.tenant_id == tenant.id, VerificationKeyRow.alg == alg)
        .order_by(VerificationKeyRow.created_at.desc(), VerificationKeyRow.id.desc()).limit(limit))
    found = []
    for row in rows:
        try:
            material: object = (keytools.hmac_key(secret_box().decrypt(row.secret_ciphertext, row.kid))
                                 if row.kind == "secret" else keytools.load_public_key(row.public_pem, row.alg))
        except (ValueError, KeyRefused):
            continue
        found.append(Suspect(VerificationKey(kid=row.kid, alg=row.alg, key=material, in_grace=row.grace_ends_at is not None),
                             revoked_at=row.revoked_at, grace_ends_at=row.grace_ends_at))
    return found


def find(tenant: TenantSettings, kid: str) -> VerificationKeyRow | None:
    """The tenant's secret or key with this kid, whatever its state."""
    return db.session.scalar(
        select(VerificationKeyRow).where(VerificationKeyRow.tenant_id == tenant.id, VerificationKeyRow.kid == kid))


def _make_room(tenant: Tenant, alg: str, now: datetime) -> None:
    """Refuse a new secret or key past MAX_LIVE_PER_ALG live ones of its algorithm.

    Inside `writing()` (BEGIN IMMEDIATE on SQLite: the write lock before the count), and the
    keys_version bump comes first, which locks the tenant row on PostgreSQL until commit: two
    concurrent adds are counted one after the other."""
    _bump(tenant)
    live = db.session.scalar(
        select(func.count()).select_from(VerificationKeyRow).where(
            VerificationKeyRow.tenant_id == tenant.id, VerificationKeyRow.alg == alg,
            VerificationKeyRow.revoked_at.is_(None),
            or_(VerificationKeyRow.grace_ends_at.is_(None), VerificationKeyRow.grace_ends_at > now),
        )
    )
    if live >= MAX_LIVE_PER_ALG:
        what = "signing secrets" if alg == "HS256" else f"{alg} public keys"
        raise Conflict(
            "key_limit_reached",
            f"This workspace already has {live} live {what} (active or in their grace window), the "
            f"most it may hold. Revoke one you no longer sign with, then add the new one.",
            "alg" if alg != "HS256" else None,
        )


def _load(tenant: TenantSettings) -> list[_Cached]:
    """The tenant's unrevoked keys, newest first (the order a token without kid picks from)."""
    rows = db.session.scalars(
        select(VerificationKeyRow)
        .where(VerificationKeyRow.tenant_id == tenant.id, VerificationKeyRow.revoked_at.is_(None))
        .order_by(VerificationKeyRow.created_at.desc(), VerificationKeyRow.id.desc())
    )
    entries = []
    for row in rows:
        try:
            if row.kind == "secret":
                material: object = keytools.hmac_key(secret_box().decrypt(row.secret_ciphertext, row.kid))
            else:
                material = keytools.load_public_key(row.public_pem, row.alg)
        except (ValueError, KeyRefused):
            # Sealed under another SIGNET_SECRET_KEY (a changed key, a restored backup) or no longer
            # an acceptable key: it verifies nothing, and the tenant's other keys keep working.
            current_app.logger.error("Signing key %s of tenant %s cannot be loaded: it verifies nothing. "
                                     "Replace it in Settings → Identity.", row.kid, tenant.id)
            continue
        key = VerificationKey(kid=row.kid, alg=row.alg, key=material, in_grace=row.grace_ends_at is not None)
        entries.append(_Cached(key, row.grace_ends_at))
    return entries


def _start_grace(tenant: Tenant, kind: str, now: datetime) -> None:
    """Every live key of this kind stays valid for the grace window, then stops."""
    db.session.execute(
        update(VerificationKeyRow)
        .where(
            VerificationKeyRow.tenant_id == tenant.id,
            VerificationKeyRow.kind == kind,
            VerificationKeyRow.revoked_at.is_(None),
            VerificationKeyRow.grace_ends_at.is_(None),
        )
        .values(grace_ends_at=now + timedelta(seconds=grace_seconds()))
    )


def _bump(tenant: Tenant) -> None:
    db.session.execute(update(Tenant).where(Tenant.id == tenant.id).values(keys_version=Tenant.keys_version + 1))
    db.session.expire(tenant, ["keys_version"])


def _label(label: str | None) -> str | None:
    label = (label or "").strip()
    if len(label) > 120:
        raise Invalid("invalid_field", "A label is at most 120 characters.", "label")
    return label or None


def key_summary(row: VerificationKeyRow) -> dict:
    """A key as the CLI and pages show it: never the secret."""
    return {
        "kid": row.kid,
        "kind": row.kind,
        "alg": row.alg,
        "fingerprint": row.fingerprint,
        "secret": row.masked_secret,
        "state": row.state(utcnow()),
        "grace_ends_at": row.grace_ends_at.isoformat() if row.grace_ends_at else None,
    }
