"""Dashboard page times on a large tenant: the users list, a search, a deep page, the inbox.

    .venv/bin/python bench/dashboard.py [--users 100000] [--conversations 2000] [--runs 50]
                                        [--postgres postgresql+psycopg://USER:PASS@HOST:PORT/DB]

Builds a fresh database (a SQLite file in a temporary folder; with --postgres, a scratch database
created on that server and dropped afterwards), migrates it, seeds it through the seed service
(the one behind `signet seed`), logs in with Flask's test client and times each page: the wall
time of the test-client call, which is the whole server-side request (routing, session and
login, queries, template rendering) without a network or a WSGI server. Prints p50 / p95 in ms.
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import scratch_postgres  # noqa: E402
from tests.helpers import login  # noqa: E402
from tests.servers import migrate  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.services.workspace import seed, tenants  # noqa: E402

SECRET_KEY = "bench-secret-key"
PASSWORD = "correct horse battery staple"


def build(database_url: str, instance: str, users: int, conversations: int):
    migrate(database_url, SECRET_KEY)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY, "SIGNET_RATELIMIT": None},
                     instance_path=instance)
    with app.app_context():
        email = f"bench-{time.time_ns()}@example.com"
        tenant = tenants.create_tenant("Bench", email, PASSWORD)
        started = time.perf_counter()
        result = seed.seed(tenant, users, conversations, 4)
        print(f"seeded {result.users:,} users, {result.conversations:,} conversations, {result.messages:,} messages "
              f"in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        first_conversation = db.session.execute(text(
            "SELECT public_id FROM conversation WHERE tenant_id = :t ORDER BY updated_at DESC LIMIT 1"),
            {"t": tenant.id}).scalar()
    return app, email, first_conversation


def next_link(client, path: str) -> str:
    """The page's Next link: the `?after=` cursor the dashboard's own pager uses."""
    html = client.get(path).get_data(as_text=True)
    return re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")


def organization_url(client) -> str:
    html = client.get("/organizations").get_data(as_text=True)
    return re.search(r'href="(/organizations/\d+)"', html).group(1)


def timed(client, path: str, runs: int) -> tuple[float, float]:
    for _ in range(3):  # warm-up: templates compiled, statement caches filled
        assert client.get(path).status_code == 200, path
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, path
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--postgres", help="an admin URL of a PostgreSQL server to make a scratch database on")
    args = parser.parse_args()
    instance = tempfile.mkdtemp(prefix="signet-bench-")
    drop = None
    database_url = f"sqlite:///{instance}/bench.sqlite3"
    if args.postgres:
        database_url, drop = scratch_postgres(args.postgres)
    try:
        app, email, conversation = build(database_url, instance, args.users, args.conversations)
        client = app.test_client()
        assert login(client, email, PASSWORD).status_code == 302
        deep = max(2, min(1000, args.users // 50))
        pages = {
            "/users": "/users",
            "/users?q=user-777": "/users?q=user-777",
            "/users?q=ada (name prefix, 5% of users)": "/users?q=ada",
            "/users?q=user-1 (11% of users, all long unseen)": "/users?q=user-1",
            "/users?filter=verified": "/users?filter=verified",
            f"/users?page={deep}": f"/users?page={deep}",
            f"/users?after=… (page {deep} by cursor)": next_link(client, f"/users?page={deep - 1}"),
            f"/users?filter=login_link&page={deep // 5} (10% of users)": f"/users?filter=login_link&page={deep // 5}",
            "/inbox": "/inbox",
            "/inbox/<conversation>": f"/inbox/{conversation}",
            "/inbox/<conversation>/messages.json": f"/inbox/{conversation}/messages.json",
            "/organizations": "/organizations",
            "/organizations/<id> (its members)": organization_url(client),
        }
        results = {name: timed(client, path, args.runs) for name, path in pages.items()}
        started = time.perf_counter()
        exported = client.get("/users.csv").get_data().count(b"\n") - 1
        export_seconds = time.perf_counter() - started
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        if drop:
            drop()
        shutil.rmtree(instance, ignore_errors=True)
    kind = "PostgreSQL" if args.postgres else "SQLite"
    print(f"dashboard page times on {kind}: {args.users:,} users, {args.conversations:,} conversations, "
          f"{args.runs} runs each (wall time of Flask test-client requests)")
    for name, (p50, p95) in results.items():
        print(f"  {name:<52} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
    print(f"  /users.csv: {exported:,} rows streamed in {export_seconds:.1f} s")


if __name__ == "__main__":
    main()
