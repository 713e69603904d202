"""Key usage and identity health counters: counted in memory, written at most once a minute.

The request path only adds to this process's counters (a dict under a lock, no query, no write),
so a returning verified user's set-user still writes nothing. A daemon thread per process flushes
every app's pending counts at most once a minute (SIGNET_USAGE_FLUSH_SECONDS, default 60; 0
turns the thread off, e.g. in tests that flush by hand) into hourly `usage_count` rows with one
upsert that adds the counts (INSERT … ON CONFLICT DO UPDATE, on SQLite and PostgreSQL), into an
hourly row (kept KEEP_HOURS) and a daily row (kept KEEP_DAYS: a 30-day page sums 30 rows a counter), and
atexit flushes once more, best effort. Counts of a process that is killed are lost: they are
a health gauge, not a ledger.

Counter names: `key:<key_ref>` (a verification by a secret or uploaded key: its kid; a provider's
key: the key_ref its caller chose), `kind:<kind>` (an identification, KINDS) and
`refusal:<code>`. The ids unsigned data named (what `required` would refuse) are kept apart, the
newest SAMPLE_SIZE per tenant.
"""
from __future__ import annotations

import atexit
import contextvars
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from functools import wraps

from flask import Flask, current_app
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from ...extensions import db
from ...infra.database import writing_apart
from ...models import EndUser, Tenant, UnsignedIdSample, UsageCount
from ...refusals import Refused

log = logging.getLogger("signet.usage")
KINDS = ("key", "provider", "legacy_hash", "login_link", "email", "unsigned", "anonymous")
SIGNED_KINDS = ("key", "provider", "legacy_hash", "login_link", "email")  # what `required` accepts with an id
SAMPLE_SIZE = 20
KEEP_HOURS = timedelta(days=3)
KEEP_DAYS = timedelta(days=90)
NAME_CHARS = 200


class _Pending:
    """One app's counts not yet written: {(tenant_id, hour epoch, name): [count, last epoch]},
    and per tenant the newest unsigned ids {id: [times seen, last epoch]} (at most SAMPLE_SIZE)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: dict[tuple[int, int, str], list] = {}
        self.samples: dict[int, OrderedDict] = {}

    def add(self, tenant_id: int, name: str, now: float, n: int = 1) -> None:
        key = (tenant_id, int(now // 3600) * 3600, name[:NAME_CHARS])
        with self.lock:
            entry = self.counts.get(key)
            if entry is None:
                self.counts[key] = [n, now]
            else:
                entry[0] += n
                entry[1] = max(entry[1], now)

    def sample(self, tenant_id: int, external_id: str, now: float) -> None:
        with self.lock:
            ids = self.samples.setdefault(tenant_id, OrderedDict())
            entry = ids.pop(external_id, None)
            ids[external_id] = [(entry[0] if entry else 0) + 1, now]
            while len(ids) > SAMPLE_SIZE:
                ids.popitem(last=False)

    def take(self) -> tuple[dict, dict]:
        with self.lock:
            counts, samples = self.counts, self.samples
            self.counts, self.samples = {}, {}
        return counts, samples

    def give_back(self, counts: dict, samples: dict) -> None:
        """A failed flush's counts, added back so the next flush writes them."""
        for (tenant_id, hour, name), (n, last) in counts.items():
            self.add(tenant_id, name, last, n)  # `last` lies in the row's hour
        for tenant_id, ids in samples.items():
            for external_id, (_, last) in ids.items():
                self.sample(tenant_id, external_id, last)


_apps: "weakref.WeakSet[Flask]" = weakref.WeakSet()
_registry_lock = threading.Lock()
_flusher_pid: int | None = None
_counting = contextvars.ContextVar("signet_usage_counting", default=False)


def _pending(app: Flask | None = None) -> _Pending:
    app = app or current_app._get_current_object()
    pending = app.extensions.get("signet_usage")
    if pending is None:
        with _registry_lock:
            pending = app.extensions.get("signet_usage")
            if pending is None:
                pending = app.extensions["signet_usage"] = _Pending()
                _apps.add(app)
    if _flusher_pid != os.getpid():
        _start_flusher(app)
    return pending


# --- counting (the request path: memory only) ---------------------------------------------------

def count_verification(tenant_id: int, key_ref: str, now: float | None = None) -> None:
    """One verification by a secret or uploaded key (`key_ref` = its kid) or by an identity
    provider's key (`key_ref` = e.g. "idp:<provider id>:<kid>"): counted per hour, last used kept."""
    _pending().add(tenant_id, "key:" + key_ref, time.time() if now is None else now)


def count_identification(tenant_id: int, kind: str, external_id: str | None = None, now: float | None = None) -> None:
    """One identification of `kind` (KINDS); an unsigned one also samples its id for the rollout meter."""
    now = time.time() if now is None else now
    pending = _pending()
    pending.add(tenant_id, "kind:" + kind, now)
    if kind == "unsigned" and external_id:
        pending.sample(tenant_id, external_id[:255], now)


def count_refusal(tenant_id: int, code: str, now: float | None = None) -> None:
    _pending().add(tenant_id, "refusal:" + code, time.time() if now is None else now)


def kind_of(session) -> str:
    """The kind of an identification from the session it made (sessions.WidgetSession): a token
    verified by one of the tenant's own secrets or keys (kids `sec_…`/`key_…`) is "key", any
    other token kid is an identity provider's."""
    how = session.how
    if how == "token":
        return "key" if (session.kid or "").startswith(("sec_", "key_")) else "provider"
    return how


def counts_identifications(service):
    """On an identification service (set-user, a login link, an email sign-in's confirmation):
    its outcome is counted, a refusal by its code; calls nested inside one count once."""

    @wraps(service)
    def wrapper(tenant, *args, **kwargs):
        if _counting.get():
            return service(tenant, *args, **kwargs)
        token = _counting.set(True)
        try:
            result = service(tenant, *args, **kwargs)
        except Refused as error:
            count_refusal(tenant.id, error.code)
            raise
        finally:
            _counting.reset(token)
        user = result.user
        count_identification(tenant.id, kind_of(result.session), user.external_id if user is not None else None)
        return result

    return wrapper


def pending_counts(tenant_id: int, prefix: str, since: float) -> dict[str, tuple[int, float]]:
    """This process's counts not yet written, {name: (count, last epoch)} for names starting with
    `prefix` since `since`: pages add them so what this process just counted shows at once."""
    pending = _pending()
    found: dict[str, list] = {}
    with pending.lock:
        for (tid, hour, name), (n, last) in pending.counts.items():
            if tid == tenant_id and name.startswith(prefix) and hour + 3600 > since:
                entry = found.setdefault(name, [0, 0.0])
                entry[0] += n
                entry[1] = max(entry[1], last)
    return {name: (n, last) for name, (n, last) in found.items()}


def pending_hours(tenant_id: int, prefix: str, since: float) -> list[tuple[float, str, int]]:
    """This process's unwritten counts as (hour epoch, name, count) rows, for per-day series."""
    pending = _pending()
    with pending.lock:
        return [(hour, name, n) for (tid, hour, name), (n, _) in pending.counts.items()
                if tid == tenant_id and name.startswith(prefix) and hour >= since]


def pending_samples(tenant_id: int) -> dict[str, tuple[int, float]]:
    """This process's unwritten unsigned-id samples of a tenant: {id: (times seen, last epoch)}."""
    pending = _pending()
    with pending.lock:
        return {external_id: (seen, at) for external_id, (seen, at) in pending.samples.get(tenant_id, {}).items()}


def forget(tenant_id: int, external_id: str) -> int:
    """Erasure: the person's id out of the sample table (in the caller's transaction) and out of
    this process's unwritten samples; other processes' are dropped when flushed (_write_samples)."""
    pending = current_app.extensions.get("signet_usage")
    if pending is not None:
        with pending.lock:
            pending.samples.get(tenant_id, {}).pop(external_id[:255], None)
    return db.session.execute(delete(UnsignedIdSample).where(
        UnsignedIdSample.tenant_id == tenant_id, UnsignedIdSample.external_id == external_id[:255]),
        execution_options={"synchronize_session": False}).rowcount or 0


# --- flushing (the background thread, atexit, tests) ---------------------------------------------

def flush(app: Flask | None = None) -> int:
    """Write one app's pending counts now (one short transaction apart from any request's);
    how many counter rows were written. On a database error the counts are kept for next time."""
    app = app or current_app._get_current_object()
    pending = app.extensions.get("signet_usage")
    if pending is None:
        return 0
    counts, samples = pending.take()
    if not counts and not samples:
        return 0
    try:
        with app.app_context():
            _write(counts, samples)
    except Exception as error:  # noqa: BLE001 - a gauge must never break anything; retried later
        log.warning("usage counters not flushed (%s): kept for the next flush", type(error).__name__)
        pending.give_back(counts, samples)
        return 0
    return len(counts)


def _when(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def _write(counts: dict, samples: dict) -> None:
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    tenants = {key[0] for key in counts} | set(samples)
    with writing_apart() as session:
        live = set(session.scalars(select(Tenant.id).where(Tenant.id.in_(tenants))))  # deleted meanwhile: dropped
        rows = [{"tenant_id": t, "bucket": "h", "hour": _when(h), "name": name, "count": n, "last_at": _when(last)}
                for (t, h, name), (n, last) in counts.items() if t in live]
        days: dict[tuple, list] = {}
        for (t, h, name), (n, last) in counts.items():
            if t in live:
                entry = days.setdefault((t, int(h // 86400) * 86400, name), [0, 0.0])
                entry[0] += n
                entry[1] = max(entry[1], last)
        rows += [{"tenant_id": t, "bucket": "d", "hour": _when(d), "name": name, "count": n, "last_at": _when(last)}
                 for (t, d, name), (n, last) in days.items()]
        if rows:
            stmt = dialect.insert(UsageCount)
            stmt = stmt.on_conflict_do_update(
                index_elements=[UsageCount.tenant_id, UsageCount.bucket, UsageCount.hour, UsageCount.name],
                set_={"count": UsageCount.count + stmt.excluded.count,
                      "last_at": case((stmt.excluded.last_at > UsageCount.last_at, stmt.excluded.last_at),
                                      else_=UsageCount.last_at)})
            session.execute(stmt, rows)
        now = datetime.now(timezone.utc)
        for tenant_id in live & {key[0] for key in counts}:
            for bucket, keep in (("h", KEEP_HOURS), ("d", KEEP_DAYS)):
                session.execute(delete(UsageCount).where(UsageCount.tenant_id == tenant_id, UsageCount.bucket == bucket,
                                                         UsageCount.hour < now - keep))
        for tenant_id, ids in samples.items():
            if tenant_id in live:
                _write_samples(session, dialect, tenant_id, ids)


def _write_samples(session, dialect, tenant_id: int, ids: OrderedDict) -> None:
    """Upsert the sampled ids of users that still exist, then keep only the tenant's newest SAMPLE_SIZE.
    An id erased since it was counted (in this process or another) is dropped: the users are read
    FOR KEY SHARE, so an erasure running now either waits for this write (and then deletes the
    sample) or has committed before it (and the id is not found)."""
    known = set(session.scalars(select(EndUser.external_id).where(
        EndUser.tenant_id == tenant_id, EndUser.external_id.in_(list(ids))).with_for_update(read=True, key_share=True)))
    values = [{"tenant_id": tenant_id, "external_id": external_id, "seen": seen, "last_seen_at": _when(last)}
              for external_id, (seen, last) in ids.items() if external_id in known]
    if not values:
        return
    stmt = dialect.insert(UnsignedIdSample)
    stmt = stmt.on_conflict_do_update(
        index_elements=[UnsignedIdSample.tenant_id, UnsignedIdSample.external_id],
        set_={"seen": UnsignedIdSample.seen + stmt.excluded.seen, "last_seen_at": stmt.excluded.last_seen_at})
    session.execute(stmt, values)
    keep = select(UnsignedIdSample.external_id).where(UnsignedIdSample.tenant_id == tenant_id).order_by(
        UnsignedIdSample.last_seen_at.desc(), UnsignedIdSample.external_id).limit(SAMPLE_SIZE)
    session.execute(delete(UnsignedIdSample).where(UnsignedIdSample.tenant_id == tenant_id,
                                                   UnsignedIdSample.external_id.not_in(keep.scalar_subquery())))


def flush_all() -> None:
    for app in list(_apps):
        flush(app)


def _start_flusher(app: Flask) -> None:
    """This process's flushing thread, started once per process (threads do not survive a fork)."""
    global _flusher_pid
    with _registry_lock:
        if _flusher_pid == os.getpid():
            return
        _flusher_pid = os.getpid()
    every = float(app.config.get("SIGNET_USAGE_FLUSH_SECONDS", 60))
    if every > 0:
        threading.Thread(target=_flush_forever, args=(max(every, 1.0),), name="signet-usage", daemon=True).start()


def _flush_forever(every: float) -> None:
    while True:
        time.sleep(every)
        try:
            flush_all()
        except Exception as error:  # noqa: BLE001 - the thread must outlive any one failure
            log.warning("usage flush failed: %s", type(error).__name__)


atexit.register(flush_all)
