"""API keys of the server API: made, listed, revoked, and checked on every request.

A key is `sk_live_<id>_<secret>`: the prefix says what it is (grep-able in leaked code, told apart
from a signing secret at a glance), `<id>` names the row, `<secret>` is 32 random bytes. Only the
SHA-256 of the whole key is stored: a key has 256 bits of entropy, so a fast hash is safe (a slow
password hash would only cost every request). The key is shown once, when made.

`authenticate` reads the key's row on every request (one indexed read, with the tenant), so a
revoked key is refused at once in every process and host. `last_used_at` is coalesced: written
by a conditional UPDATE only when older than LAST_USED_EVERY, never once per call.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import or_, select, update

from ...extensions import db
from ...infra.database import writing
from ...models import API_KEY_SCOPES, ApiKey, Tenant
from ...models._types import iso_seconds, utcnow
from ...refusals import Invalid, NotFound
from .. import audit

PREFIX = "sk_live_"
LAST_USED_EVERY = timedelta(seconds=60)
MAX_NAME = 120
MAX_KEY_CHARS = 200
_KEY = re.compile(r"sk_live_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class Caller:
    """Who a server API request is: the key (its row id, public id, name, scope) and its tenant row."""

    key_id: int
    tenant_id: int
    public_id: str
    name: str
    scope: str
    tenant: Tenant

    @property
    def may_write(self) -> bool:
        return self.scope == "write"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(tenant: Tenant, name: object, scope: object = "read", created_by: str = "") -> tuple[ApiKey, str]:
    """A new key for `tenant`: the row and the key itself (shown this once). Audited (apikey.created)."""
    clean = name.strip() if isinstance(name, str) else ""
    if not clean or len(clean) > MAX_NAME or any(ord(c) < 32 for c in clean):
        raise Invalid("invalid_field", f"The name must be 1 to {MAX_NAME} printable characters.", "name")
    if scope not in API_KEY_SCOPES:
        raise Invalid("invalid_field", "The scope must be read or write.", "scope")
    ident = secrets.token_hex(8)
    key = f"{PREFIX}{ident}_{secrets.token_urlsafe(32)}"
    with writing():
        row = ApiKey(public_id=f"ak_{ident}", tenant_id=tenant.id, name=clean, scope=scope, key_hash=_digest(key),
                     created_by=(created_by or audit.current_actor()[0])[:254], created_at=utcnow())
        db.session.add(row)
        db.session.flush()
        audit.record(tenant.id, "apikey.created", row.public_id, after={"name": clean, "scope": scope})
    return row, key


def revoke(tenant: Tenant, public_id: str) -> ApiKey:
    """End a key at once (the next request with it is 401). Revoking a revoked key changes nothing."""
    with writing():
        row = db.session.scalar(select(ApiKey).where(ApiKey.tenant_id == tenant.id, ApiKey.public_id == public_id)
                                .with_for_update())
        if row is None:
            raise NotFound("not_found", f"This workspace has no API key {public_id[:40]}.")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record(tenant.id, "apikey.revoked", row.public_id, before={"name": row.name, "scope": row.scope})
    return row


def keys_of(tenant: Tenant) -> list[ApiKey]:
    return list(db.session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant.id)
                                   .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(), ApiKey.id.desc())))


def authenticate(key: object, now: datetime | None = None) -> Caller | None:
    """The caller a bearer key names, or None (malformed, unknown, wrong secret, revoked).
    One read (the key with its tenant); at most one small write a minute per key."""
    if not isinstance(key, str) or len(key) > MAX_KEY_CHARS:
        return None
    match = _KEY.fullmatch(key)
    if match is None:
        return None
    found = db.session.execute(select(ApiKey, Tenant).join(Tenant, Tenant.id == ApiKey.tenant_id)
                               .where(ApiKey.public_id == f"ak_{match.group(1)}")).first()
    if found is None:
        return None
    row, tenant = found
    if not hmac.compare_digest(row.key_hash, _digest(key)) or row.revoked_at is not None:
        return None
    now = now or datetime.now(timezone.utc)
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_EVERY:
        _touch(row.id, now)
    return Caller(row.id, tenant.id, row.public_id, row.name, row.scope, tenant)


def _touch(key_id: int, now: datetime) -> None:
    """last_used_at = now, only if still older than the coalescing window (concurrent requests of
    several processes write it once)."""
    with writing():
        db.session.execute(update(ApiKey).where(
            ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_EVERY))
            .values(last_used_at=now))


def to_dict(row: ApiKey, key: str | None = None) -> dict:
    """What the CLI prints (and pages show) of a key; `key` only when it was just made."""
    out = {"id": row.public_id, "name": row.name, "scope": row.scope, "prefix": row.prefix,
           "created_by": row.created_by, "created_at": iso_seconds(row.created_at), "last_used_at": iso_seconds(row.last_used_at),
           "revoked_at": iso_seconds(row.revoked_at)}
    if key is not None:
        out = {"id": row.public_id, "key": key, **{k: v for k, v in out.items() if k != "id"}}
    return out


