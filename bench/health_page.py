"""The Identity health page at 30 days of a busy workspace (issue 14, item 4).

    .venv/bin/python bench/health_page.py [--runs 30] [--postgres URL]

Seeds the counters (usage_count) of one workspace doing 1 000 000 identifications a day for 30
days, as the coalesced counters would have written them (hourly rows for the 3 days they are
kept, daily rows for 30): a row per identification kind (7), refusal code (12) and key (3 secrets
and keys, 2 provider keys) per bucket, plus a full sample of unsigned ids, and a second workspace
as busy beside it. Then it times GET /settings/health for each window and GET /settings/identity (the
rollout meter) through the test client as the owner, and prints the median and worst in ms.
Goal: under 100 ms.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.models import UnsignedIdSample, UsageCount  # noqa: E402
from webapp.services.workspace import tenants  # noqa: E402
from tests.helpers import login  # noqa: E402

PER_DAY = 1_000_000
KINDS = {"key": 0.55, "provider": 0.2, "legacy_hash": 0.02, "login_link": 0.01, "email": 0.01, "unsigned": 0.06,
         "anonymous": 0.15}
CODES = ("token_expired", "token_bad_signature", "token_unknown_key", "token_malformed", "token_bad_audience",
         "token_replayed", "verification_required", "unknown_field", "invalid_field", "user_hash_invalid",
         "seat_limit_reached", "origin_not_allowed")
KEYS = ("sec_aaaaaaaa", "sec_bbbbbbbb", "key_cccccccc", "idp:1:kid-one", "idp:1:kid-two")


def _rows(tenant_id: int, bucket: str, start: float, step: int, count: int, scale: float) -> list[dict]:
    rows = []
    for i in range(count):
        at = datetime.fromtimestamp(start + i * step, timezone.utc)
        named = [("kind:" + kind, PER_DAY * part) for kind, part in KINDS.items()]
        named += [("refusal:" + code, 12_000) for code in CODES] + [("key:" + key, PER_DAY * 0.15) for key in KEYS]
        rows += [{"tenant_id": tenant_id, "bucket": bucket, "hour": at, "name": name,
                  "count": int(per_day * scale * random.uniform(0.8, 1.2)), "last_at": at} for name, per_day in named]
    return rows


def seed(tenant_id: int, now: float) -> int:
    """What the counters hold after 30 days: hourly rows for the 3 days they are kept, daily rows for 30."""
    hour, day = int(now // 3600) * 3600, int(now // 86400) * 86400
    rows = (_rows(tenant_id, "h", hour - 3 * 86400, 3600, 3 * 24 + 1, 1 / 24)
            + _rows(tenant_id, "d", day - 30 * 86400, 86400, 31, 1.0))
    db.session.execute(UsageCount.__table__.insert(), rows)
    db.session.execute(UnsignedIdSample.__table__.insert(), [
        {"tenant_id": tenant_id, "external_id": f"user-{i}", "seen": i + 1,
         "last_seen_at": datetime.fromtimestamp(now - i * 60, timezone.utc)} for i in range(20)])
    db.session.commit()
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--postgres", help="a PostgreSQL URL to run against instead of a SQLite file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    url = args.postgres or f"sqlite:///{folder / 'health.sqlite3'}"
    app = create_app({"TESTING": True, "SECRET_KEY": "bench-" + "x" * 32, "SQLALCHEMY_DATABASE_URI": url,
                      "SIGNET_RATELIMIT": None, "SIGNET_USAGE_FLUSH_SECONDS": 0},
                     instance_path=str(folder))
    with app.app_context():
        db.drop_all() if args.postgres else None
        db.create_all()
        busy = tenants.create_tenant("Busy", "owner@example.com", "correct horse battery staple")
        other = tenants.create_tenant("Other", "other@example.com", "correct horse battery staple")
        busy_id, other_id, public_id = busy.id, other.id, busy.public_id
        now = time.time()
        count = seed(busy_id, now) + seed(other_id, now)
    client = app.test_client()
    assert login(client, "owner@example.com", "correct horse battery staple").status_code == 302
    print(f"seeded {count} counter rows (2 workspaces x 30 days x {PER_DAY:,} identifications/day); workspace {public_id}")
    for path in ("/settings/health?window=24h", "/settings/health?window=7d", "/settings/health?window=30d",
                 "/settings/identity"):
        client.get(path)  # warm
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, response.status_code
        print(f"{path:32s} median {statistics.median(times):6.1f} ms   worst {max(times):6.1f} ms")


if __name__ == "__main__":
    main()
