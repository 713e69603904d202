"""Identity providers' JWKS: fetched over the outbound client, shared by every process through the
database, held parsed in each process until it expires.

- Each process keeps a provider's parsed keys until the `jwks_expires_at` it read; a token costs no
  query meanwhile. Past it, the process reads the provider's row (another process may have fetched)
  at most once per RECHECK seconds.
- A fetch is claimed in the row first (`jwks_fetching_until`, a conditional UPDATE): one process
  fetches, and every other request, here or elsewhere, goes on with the keys it has. In a
  process, a per-provider lock taken without waiting does the same for its threads: the token
  path never waits on a fetch another request started.
- Freshness: the answer's Cache-Control max-age bounded to MIN_TTL..MAX_TTL (DEFAULT_TTL without
  one). A failed fetch (unreachable, not 200, not a JWKS, over 64 KiB, no usable key) keeps the
  last good keys, records the failure and its time, and is retried after RETRY_AFTER.
- An unknown kid refetches at most once a minute per provider (`jwks_refetched_at`, claimed the
  same way), so junk kids cannot make Signet hammer a provider.
- A process holds keys under the provider's row id AND its public id, and reads the row by both:
  SQLite gives a deleted last row's id to the next row, so a provider another process removed and
  one another workspace added next may share an id, and the removed one's keys (held here until
  they expire) must never verify the new one's tokens.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from flask import current_app
from sqlalchemy import or_, select, update

from ...extensions import db
from ...identity.providers import JwkSet, parse_jwks
from ...infra import outbound
from ...infra.database import writing_apart
from ...models import IdentityProvider

MIN_TTL, MAX_TTL, DEFAULT_TTL = 300, 86400, 3600
RETRY_AFTER = 60  # after a failed fetch
REFETCH_EVERY = 60  # an unknown kid refetches at most this often per provider
RECHECK = 5  # a process re-reads a stale provider's row at most this often
CLAIM_SECONDS = 15  # a claimed fetch that never finished (a process died) frees itself
MAX_BYTES = 65536
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)


@dataclass
class Held:
    """A provider's keys as this process holds them."""

    jwks: JwkSet
    fetched_at: datetime | None
    expires_at: datetime | None
    checked_at: datetime
    unknown_checked_at: datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


@dataclass(frozen=True)
class Fetched:
    """One fetch's outcome: the document and its freshness, or why it failed."""

    document: str | None
    jwks: JwkSet | None
    ttl: int
    error: str | None = None


_registry_lock = threading.Lock()


def _held() -> dict[int, Held]:
    return current_app.extensions.setdefault("signet_jwks", {})


def ttl_from(cache_control: str | None) -> int:
    """Seconds a JWKS stays fresh: max-age within MIN_TTL..MAX_TTL; no-store/no-cache: MIN_TTL."""
    if not cache_control:
        return DEFAULT_TTL
    if re.search(r"no-store|no-cache", cache_control, re.IGNORECASE):
        return MIN_TTL
    match = _MAX_AGE.search(cache_control)
    return DEFAULT_TTL if match is None else max(MIN_TTL, min(MAX_TTL, int(match.group(1))))


def fetch(url: str) -> Fetched:
    """GET the JWKS once and parse it; never raises for what the provider or the network did
    (an OutboundRefused URL is reported as a failure too: the setting may have changed)."""
    try:
        answer = outbound.fetch(url, headers={"Accept": "application/json"}, timeout=5.0, max_bytes=MAX_BYTES)
    except (outbound.OutboundRefused, outbound.OutboundFailed) as error:
        return Fetched(None, None, RETRY_AFTER, error.reason)
    if answer.status != 200:
        return Fetched(None, None, RETRY_AFTER, f"The JWKS URL answered HTTP {answer.status}.")
    if answer.truncated:
        return Fetched(None, None, RETRY_AFTER, f"The JWKS is larger than {MAX_BYTES // 1024} KiB.")
    try:
        jwks = parse_jwks(answer.body)
    except ValueError as error:
        return Fetched(None, None, RETRY_AFTER, str(error))
    if not jwks.keys:
        return Fetched(None, None, RETRY_AFTER, "The JWKS holds no usable signing key.")
    return Fetched(answer.body.decode("utf-8"), jwks, ttl_from(answer.headers.get("cache-control")))


def keys_for(provider_id: int, public_id: str, now: datetime) -> JwkSet:
    """The provider's keys for a token now: held, else the shared row's, else fetched by this
    request if no one else is fetching (then the stale keys serve meanwhile)."""
    held = _held().get((provider_id, public_id))
    if held is not None and (_fresh(held.expires_at, now) or now - held.checked_at < timedelta(seconds=RECHECK)):
        return held.jwks
    held = _reload(provider_id, public_id, now)
    if held is None or _fresh(held.expires_at, now):
        return held.jwks if held else JwkSet()
    if held.lock.acquire(blocking=False):
        try:
            if _claim(provider_id, now, refetch=False):
                held = _refresh(provider_id, public_id, now)
        finally:
            held.lock.release()
    return held.jwks


def refetch_for_kid(provider_id: int, public_id: str, kid: str, now: datetime) -> JwkSet | None:
    """The provider's keys once more for a kid they lack: the shared row's if another process has
    it already, else one fetch if none happened in the last minute. None: nothing new to try."""
    held = _held().get((provider_id, public_id))
    if held is not None and held.unknown_checked_at and now - held.unknown_checked_at < timedelta(seconds=RECHECK):
        return None
    held = _reload(provider_id, public_id, now)
    if held is None:
        return None
    held.unknown_checked_at = now
    if any(key.kid == kid for key in held.jwks.keys):
        return held.jwks
    if not held.lock.acquire(blocking=False):
        return None
    try:
        if not _claim(provider_id, now, refetch=True):
            return None
        return _refresh(provider_id, public_id, now).jwks
    finally:
        held.lock.release()


def _fresh(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is not None and expires_at > now


def _reload(provider_id: int, public_id: str, now: datetime) -> Held | None:
    """The provider's row read again (its keys parsed again only when they changed)."""
    with db.engine.connect() as connection:
        row = connection.execute(
            select(IdentityProvider.jwks_document, IdentityProvider.jwks_fetched_at, IdentityProvider.jwks_expires_at)
            .where(IdentityProvider.id == provider_id, IdentityProvider.public_id == public_id)).first()
    if row is None:
        return None
    return _remember((provider_id, public_id), row.jwks_document, _utc(row.jwks_fetched_at),
                     _utc(row.jwks_expires_at), now)


def _remember(ref: tuple[int, str], document: str | None, fetched_at: datetime | None, expires_at: datetime | None,
              now: datetime) -> Held:
    with _registry_lock:
        held = _held().get(ref)
        if held is None or held.fetched_at != fetched_at:
            jwks = _parse_stored(document)
            lock = held.lock if held is not None else threading.Lock()
            held = _held()[ref] = Held(jwks, fetched_at, expires_at, now, lock=lock)
        held.expires_at, held.checked_at = expires_at, now
        return held


def _parse_stored(document: str | None) -> JwkSet:
    if not document:
        return JwkSet()
    try:
        return parse_jwks(document)
    except ValueError:
        return JwkSet()


def _claim(provider_id: int, now: datetime, *, refetch: bool) -> bool:
    """Whether this process takes the provider's next fetch (no other process is fetching, and for
    an unknown kid, no refetch in the last minute). A short write on a connection of its own."""
    table = IdentityProvider
    stmt = update(table).where(table.id == provider_id, or_(table.jwks_fetching_until.is_(None),
                                                             table.jwks_fetching_until < now))
    values = {"jwks_fetching_until": now + timedelta(seconds=CLAIM_SECONDS)}
    if refetch:
        stmt = stmt.where(or_(table.jwks_refetched_at.is_(None),
                              table.jwks_refetched_at < now - timedelta(seconds=REFETCH_EVERY)))
        values["jwks_refetched_at"] = now
    else:
        stmt = stmt.where(or_(table.jwks_expires_at.is_(None), table.jwks_expires_at <= now))
    with writing_apart() as session:
        return session.execute(stmt.values(**values)).rowcount == 1


def _refresh(provider_id: int, public_id: str, now: datetime) -> Held:
    """Fetch (the claim is ours), store the outcome in the shared row, and hold it."""
    url = db.session.scalar(select(IdentityProvider.jwks_url).where(IdentityProvider.id == provider_id,
                                                                    IdentityProvider.public_id == public_id))
    fetched = fetch(url) if url else Fetched(None, None, RETRY_AFTER, "The provider was removed.")
    store(provider_id, fetched, now)
    return _reload(provider_id, public_id, now) or Held(JwkSet(), None, None, now)


def store(provider_id: int, fetched: Fetched, now: datetime) -> None:
    """Write one fetch's outcome to the shared row: new keys, or the failure (last keys kept)."""
    if fetched.error is None:
        values = {"jwks_document": fetched.document, "jwks_fetched_at": now,
                  "jwks_expires_at": now + timedelta(seconds=fetched.ttl)}
    else:
        values = {"jwks_error": fetched.error[:500], "jwks_error_at": now,
                  "jwks_expires_at": now + timedelta(seconds=RETRY_AFTER)}
    with writing_apart() as session:
        session.execute(update(IdentityProvider).where(IdentityProvider.id == provider_id)
                        .values(jwks_fetching_until=None, **values))


def forget(provider_id: int) -> None:
    """Drop what this process holds for a provider (it was removed)."""
    with _registry_lock:
        for ref in [ref for ref in _held() if ref[0] == provider_id]:
            _held().pop(ref, None)


def held_now(provider_id: int, public_id: str) -> Held | None:
    """What this process holds, for the token debugger (reads only, fetches nothing)."""
    return _held().get((provider_id, public_id))


def _utc(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value
