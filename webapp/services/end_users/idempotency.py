"""Idempotency keys for the widget API's creating writes (docs/CONTRACT-NOTES.md, "Idempotency").

A client that lost the answer to a write cannot tell whether it was stored. Sent again with the
same `Idempotency-Key`, the write returns the first answer (status and body) and creates
nothing. The key and that answer are written in the write's own transaction (`record`), so a key
is stored if and only if its write was; a request that created nothing (an error) stores nothing
and its retry runs again.

Keys belong to one tenant and one session subject (a user, or an anonymous visitor) and live
24 hours. The same key with another request (method, path or JSON body) is 409
`idempotency_key_reused`. Two requests with one key at once: both may run, but only one can
insert the key (a unique constraint; on PostgreSQL the second insert waits for the first
transaction), so the other rolls back everything it did and answers the first one's stored
answer; 409 `idempotency_key_in_progress` only if that answer cannot be found (it expired
meanwhile). Stored answers are bounded (MAX_STORED) and pruned on the fly every PRUNE_EVERY-th
record and by `signet prune`.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ...infra.database import writing
from ...extensions import db
from ...identity.errors import FieldRefused
from ...refusals import Conflict
from ...models import IdempotencyKey

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
MAX_STORED = 64 * 1024  # bytes of a stored answer; the API's answers stay below it (10 000-character bodies)
PRUNE_EVERY = 200
_KEY = re.compile(r"[\x20-\x7e]{1,255}")
_records = [0]  # per process: every PRUNE_EVERY-th record also deletes expired keys


def clock() -> float:
    """Now, in seconds (tests replace it to age keys)."""
    return time.time()


class Taken(Exception):
    """The key was stored by a concurrent request meanwhile: this one's transaction must roll back."""


@dataclass(frozen=True)
class Guard:
    """One request's key: whose it is, what request it names, and the status a success answers."""

    tenant_id: int
    subject: str
    key: str
    request_hash: str
    status: int


@dataclass(frozen=True)
class Stored:
    status: int
    body: dict


def guard_for(session, header: str | None, method: str, path: str, body: dict, status: int) -> Guard | None:
    """The request's guard, None without the header; 400 invalid_field for a malformed key."""
    if header is None:
        return None
    if not _KEY.fullmatch(header) or not header.strip():
        raise FieldRefused("invalid_field", f"{HEADER}: 1 to 255 printable ASCII characters", HEADER)
    subject = f"user:{session.user_id}" if session.user_id is not None else f"visitor:{session.visitor_id}"
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(f"{method}\n{path}\n{canonical}".encode()).hexdigest()
    return Guard(session.tenant_id, subject, header, digest, status)


def stored(guard: Guard) -> Stored | None:
    """The first answer under this key, None when there is none (or it expired); 409 when the key
    named another request."""
    row = db.session.scalar(select(IdempotencyKey).where(
        IdempotencyKey.tenant_id == guard.tenant_id, IdempotencyKey.subject == guard.subject,
        IdempotencyKey.key == guard.key))
    if row is None or row.created_at <= _now() - TTL:
        return None
    if row.request_hash != guard.request_hash:
        raise Conflict("idempotency_key_reused", f"{HEADER}: this key was used for another request (another body,"
                       " conversation or endpoint) within 24 hours; use a new key for a new request.", HEADER)
    return Stored(row.status, json.loads(row.response))


def in_progress() -> Conflict:
    return Conflict("idempotency_key_in_progress", f"{HEADER}: a request with this key is still being handled;"
                    " retry it in a moment.", HEADER)


def record(guard: Guard | None, body: dict) -> None:
    """Store the answer under the key, inside the caller's write transaction (before its commit).
    Raises Taken when a concurrent request stored the key first: the caller's transaction rolls
    back and the request answers the stored answer instead."""
    if guard is None:
        return
    now = _now()
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) > MAX_STORED:
        return  # not replayable: the write stands, a retry would run again (never happens within the API's bounds)
    db.session.flush()  # the caller's own rows first, so a constraint error below is the key's
    db.session.execute(delete(IdempotencyKey).where(  # an expired use of the key makes way
        IdempotencyKey.tenant_id == guard.tenant_id, IdempotencyKey.subject == guard.subject,
        IdempotencyKey.key == guard.key, IdempotencyKey.created_at <= now - TTL))
    db.session.add(IdempotencyKey(tenant_id=guard.tenant_id, subject=guard.subject, key=guard.key,
                                  request_hash=guard.request_hash, status=guard.status, response=text,
                                  created_at=now))
    try:
        db.session.flush()
    except IntegrityError as error:
        raise Taken() from error
    _records[0] += 1
    if _records[0] % PRUNE_EVERY == 0:
        _delete_expired(now)


def prune(now: float | None = None) -> int:
    """Delete every expired key (`signet prune`); the number deleted."""
    with writing():
        return _delete_expired(_now() if now is None else datetime.fromtimestamp(now, timezone.utc))


def _delete_expired(now: datetime) -> int:
    return db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at <= now - TTL)).rowcount


def _now() -> datetime:
    return datetime.fromtimestamp(clock(), timezone.utc)
