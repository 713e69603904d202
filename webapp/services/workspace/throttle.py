"""Throttles of the staff pages (login, sign-up, password reset, verification mail): count first,
then decide, in one atomic step, so concurrent guesses can never all pass a check made before any
of them was counted (the old test-then-count let 17 of 40 concurrent guesses through, not 10).

Where the counters live: SIGNET_RATELIMIT_STORAGE_URL when it names a shared store (Redis: every
process and host), otherwise the database (every worker of a host, and every host of one
database); never one process's memory. A Redis store that is down follows SIGNET_RATELIMIT_FAIL.
"""
from __future__ import annotations

import hashlib
import random
import time
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import case, delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ...infra.database import is_sqlite, writing
from ...extensions import db, limiter
from ...models import StaffThrottle
from ...infra.ratelimit import STORE_DOWN, store_down

KEEP_SECONDS = 24 * 3600  # counters older than the longest window are pruned


@dataclass(frozen=True)
class Limit:
    name: str
    amount: int
    seconds: int


LOGIN = Limit("login", 10, 15 * 60)  # API.md §7: at most 10 failed logins per address or email
SIGNUP_ADDRESS = Limit("signup-address", 10, 3600)
SIGNUP_EMAIL = Limit("signup-email", 3, 3600)
RESET_ADDRESS = Limit("reset-address", 10, 3600)
RESET_EMAIL = Limit("reset-email", 3, 3600)
RESEND = Limit("verify-resend", 3, 3600)


def _key(limit: Limit, key: str) -> str:
    return hashlib.sha256(f"{limit.name}\x00{key}".encode("utf-8")).hexdigest()


def _uses_database() -> bool:
    return current_app.config.get("RATELIMIT_STORAGE_URI", "memory://").startswith("memory")


def hit(checks: list[tuple[Limit, str]], now: float | None = None) -> int | None:
    """Count one attempt against every (limit, key); None when all are within their limit, else
    the seconds until the breached window ends (and the attempt is counted back: a refused
    attempt uses nothing up)."""
    now = time.time() if now is None else now
    counted = []
    retry = None
    for limit, key in checks:
        result = _count(limit, key, now, 1)
        if result is None:  # the store is down and we fail open
            continue
        counted.append((limit, key))
        hits, window_start = result
        if hits > limit.amount:
            retry = max(retry or 1, int(window_start + limit.seconds - now) or 1)
    if retry is not None:
        refund(counted, now)
    return retry


def refund(checks: list[tuple[Limit, str]], now: float | None = None) -> None:
    """Count one attempt back (a login that succeeded, an attempt refused by another limit)."""
    now = time.time() if now is None else now
    for limit, key in checks:
        _count(limit, key, now, -1)


def _count(limit: Limit, key: str, now: float, amount: int) -> tuple[int, float] | None:
    """Add `amount` and read the result in one statement: (hits, window start)."""
    digest = _key(limit, key)
    if not _uses_database():
        try:
            storage = limiter.storage
            hits = storage.incr(f"signet-staff/{digest}", limit.seconds, amount=amount)
            return hits, storage.get_expiry(f"signet-staff/{digest}") - limit.seconds
        except STORE_DOWN as error:
            if store_down(error):
                return None
            raise
    with writing():
        if amount < 0:
            db.session.execute(update(StaffThrottle).where(StaffThrottle.key_hash == digest, StaffThrottle.hits > 0)
                               .values(hits=StaffThrottle.hits + amount))
            return None
        row = db.session.execute(_upsert(digest, int(now), limit.seconds, amount)).one()
        if random.random() < 0.01:
            db.session.execute(delete(StaffThrottle).where(StaffThrottle.window_start < int(now) - KEEP_SECONDS))
    return row.hits, row.window_start


def _upsert(digest: str, now: int, seconds: int, amount: int):
    """INSERT … ON CONFLICT DO UPDATE … RETURNING: a window that ended starts again at `now`."""
    insert = sqlite_insert if is_sqlite() else pg_insert
    table = StaffThrottle.__table__
    ended = table.c.window_start <= now - seconds
    stmt = insert(table).values(key_hash=digest, window_start=now, hits=amount)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.key_hash],
        set_={"hits": case((ended, amount), else_=table.c.hits + amount),
              "window_start": case((ended, now), else_=table.c.window_start)},
    ).returning(table.c.hits, table.c.window_start)
