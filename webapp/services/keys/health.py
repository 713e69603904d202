"""Identity health as the pages read it: sums of the coalesced counters (usage.py), never a scan of
logs or users. Each figure is the flushed rows plus what this process counted and has not written
yet, so a page is at most a minute behind other processes and never behind its own.

"24h" is the current hour and the 23 before it (hourly rows); "7d" and "30d" are today and the 6
or 29 UTC days before it (daily rows: a 30-day page sums 30 rows a counter, whatever the traffic).
Every read is a range of the (tenant, bucket, start, name) primary key or the (tenant, name, start) index.
"""
from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime, timezone

from sqlalchemy import case, func, select

from ...extensions import db
from ...models import UnsignedIdSample, UsageCount
from . import usage

WINDOWS = {"24h": 24, "7d": 7 * 24, "30d": 30 * 24}  # hours
KIND_LABELS = {
    "key": "Verified by your key or secret", "provider": "Verified by an identity provider",
    "legacy_hash": "Legacy user hash", "login_link": "Login link", "email": "Email sign-in",
    "unsigned": "Unsigned data", "anonymous": "Anonymous visitor",
}


def _since(hours: int, now: float) -> float:
    step = _step(hours)
    return int(now // step) * step - (hours * 3600 // step - 1) * step


def _step(hours: int) -> int:
    return 3600 if hours <= 24 else 86400


def _bucket_of(hours: int) -> str:
    return "h" if hours <= 24 else "d"


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc)


def totals(tenant_id: int, hours: int, now: float | None = None) -> dict[str, int]:
    """{counter name: count} over the window, flushed rows and this process's pending counts."""
    now = time.time() if now is None else now
    since = _since(hours, now)
    rows = db.session.execute(
        select(UsageCount.name, func.sum(UsageCount.count)).where(
            UsageCount.tenant_id == tenant_id, UsageCount.bucket == _bucket_of(hours),
            UsageCount.hour >= _dt(since)).group_by(UsageCount.name))
    found: dict[str, int] = defaultdict(int)
    for name, count in rows:
        found[name] += int(count or 0)
    for name, (count, _) in usage.pending_counts(tenant_id, "", since).items():
        found[name] += count
    return dict(found)


def key_usage(tenant_id: int, key_refs: list[str], now: float | None = None) -> dict[str, dict]:
    """{key_ref: {"last_used": datetime | None, "day": verifications in the last 24 hours}}."""
    now = time.time() if now is None else now
    names = ["key:" + ref for ref in key_refs]
    last: dict[str, float] = {}
    if names:
        for name, at in db.session.execute(
                select(UsageCount.name, func.max(UsageCount.last_at)).where(
                    UsageCount.tenant_id == tenant_id, UsageCount.name.in_(names)).group_by(UsageCount.name)):
            last[name] = _epoch(at)
    for name, (_, at) in usage.pending_counts(tenant_id, "key:", 0).items():
        last[name] = max(last.get(name, 0.0), at)
    day = totals(tenant_id, WINDOWS["24h"], now)
    return {ref: {"last_used": _dt(last["key:" + ref]) if "key:" + ref in last else None,
                  "day": day.get("key:" + ref, 0)} for ref in key_refs}


def _epoch(value) -> float:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.timestamp()


def report(tenant_id: int, window: str, now: float | None = None) -> dict:
    """What the Identity health page shows for a window (WINDOWS): identifications by kind,
    refusals by code, the share of verified traffic (total and per day), per-key usage."""
    now = time.time() if now is None else now
    hours = WINDOWS[window]
    found = totals(tenant_id, hours, now)
    kinds = [(kind, KIND_LABELS[kind], found.get("kind:" + kind, 0)) for kind in usage.KINDS]
    refusals = sorted(((name[8:], n) for name, n in found.items() if name.startswith("refusal:")),
                      key=lambda item: (-item[1], item[0]))
    keys = sorted(((name[4:], n) for name, n in found.items() if name.startswith("key:")),
                  key=lambda item: (-item[1], item[0]))
    total = sum(n for _, _, n in kinds)
    verified = sum(n for kind, _, n in kinds if kind in usage.SIGNED_KINDS)
    return {"window": window, "kinds": kinds, "refusals": refusals, "per_key": keys, "total": total,
            "verified": verified, "share": share(verified, total), "days": _days(tenant_id, hours, now)}


def share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 1)


def _days(tenant_id: int, hours: int, now: float) -> list[tuple[str, int, int]]:
    """[(day "YYYY-MM-DD" or hour "HH:00" for 24h, verified, all)] identifications, oldest first."""
    since = _since(hours, now)
    buckets: dict[str, list[int]] = {}
    step = _step(hours)
    start = int(since // step) * step
    for at in range(start, int(now) + 1, step):
        buckets[_bucket(at, step)] = [0, 0]
    signed = ["kind:" + kind for kind in usage.SIGNED_KINDS]
    rows = db.session.execute(  # one row per hour or day, summed by the database
        select(UsageCount.hour, func.sum(case((UsageCount.name.in_(signed), UsageCount.count), else_=0)),
               func.sum(UsageCount.count))
        .where(UsageCount.tenant_id == tenant_id, UsageCount.bucket == _bucket_of(hours), UsageCount.hour >= _dt(since),
               UsageCount.name.like("kind:%"))
        .group_by(UsageCount.hour))
    hourly = [(_epoch(hour), int(v or 0), int(a or 0)) for hour, v, a in rows]
    hourly += [(hour, n if name in signed else 0, n) for hour, name, n in usage.pending_hours(tenant_id, "kind:", since)]
    for hour, verified, count in hourly:
        entry = buckets.setdefault(_bucket(hour, step), [0, 0])
        entry[0] += verified
        entry[1] += count
    return [(label, v, a) for label, (v, a) in buckets.items()]


def _bucket(epoch: float, step: int) -> str:
    return _dt(epoch).strftime("%H:00" if step == 3600 else "%Y-%m-%d")


def rollout(tenant_id: int, now: float | None = None) -> dict:
    """The rollout meter: over 7 days, identifications naming a user that were signed (any
    vouched-for kind) against unsigned ones, and the newest unsigned ids `required` would refuse."""
    found = totals(tenant_id, WINDOWS["7d"], now)
    signed = sum(found.get("kind:" + kind, 0) for kind in usage.SIGNED_KINDS)
    unsigned = found.get("kind:unsigned", 0)
    stored = {row.external_id: (row.seen, row.last_seen_at) for row in db.session.scalars(
        select(UnsignedIdSample).where(UnsignedIdSample.tenant_id == tenant_id))}
    for external_id, (seen, at) in usage.pending_samples(tenant_id).items():
        old = stored.get(external_id)
        stored[external_id] = ((old[0] if old else 0) + seen, _dt(at))
    ids = sorted(stored.items(), key=lambda item: item[1][1], reverse=True)[:usage.SAMPLE_SIZE]
    return {"signed": signed, "unsigned": unsigned, "share": share(signed, signed + unsigned),
            "ids": [{"id": external_id, "seen": seen, "at": at} for external_id, (seen, at) in ids]}
