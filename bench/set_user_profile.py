"""set-user in process: statements and round trips per call, and µs per call, for each case.

    .venv/bin/python bench/set_user_profile.py [--calls 2000] [--database sqlite|postgres|URL] [--case NAME]

The same cases as bench/set_user.py, each called through the app's WSGI callable in a loop (no
server, no network), after warm-up calls, beside the bare Flask endpoint of bench/bare_app.py:

- statements: what the database is sent per call, counted on SQLAlchemy's engine (every
  statement, BEGIN included) and on the hot path's read connections (snapshots' reads);
- commits per call; on PostgreSQL also round trips (every wait of the driver for the server);
- µs per call (median of five batches) and its ratio to the bare endpoint's;
- CPU µs per call over the five batches: this process's, and on PostgreSQL the server's
  processes' (read from /proc: a server on this host; 0 otherwise).

`--database postgres` makes a scratch database on SIGNET_BENCH_POSTGRES_URL's server (default
the local test server) and drops it afterwards; a full URL uses that database as it is.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import event
from werkzeug.test import EnvironBuilder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bare_app import app as bare_app  # noqa: E402
from bench.scratch import database  # noqa: E402
from tests.servers import migrate  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.services.end_users import snapshots  # noqa: E402
from webapp.services.keys import keyring  # noqa: E402
from webapp.services.workspace import tenants  # noqa: E402

SECRET_KEY = "bench-secret-key"
ORG_POOL = [{"id": f"pool-org-{k}", "name": f"Pool org {k}"} for k in range(8)]


def changing_with_orgs(n: int, rng: random.Random) -> dict:
    """A few dozen users whose name, attrs and organizations (1-3 of a pool of 8) change each call."""
    return {"id": f"org-changer-{n % 40}", "name": f"Name {n}", "attrs": {"n": n},
            "organizations": rng.sample(ORG_POOL, rng.randint(1, 3))}


def cases(token: str, visitor: str) -> dict:
    """Case name → (body for call n, headers)."""
    rng = random.Random(18)
    run_id = uuid.uuid4().hex[:8]
    return {
        "returning verified user": (lambda n: {"jwt": token}, {"X-Signet-Visitor": visitor}),
        "changing unsigned user": (lambda n: {"id": f"changer-{n % 500}", "name": f"Name {n}", "attrs": {"n": n}}, {}),
        "changing user with orgs": (lambda n: changing_with_orgs(n, rng), {}),
        "new user each call": (lambda n: {"id": f"new-{run_id}-{n}", "name": f"New {n}"}, {}),
        "anonymous visitor": (lambda n: {"id": None}, {"X-Signet-Visitor": visitor}),
        "new user with orgs": (lambda n: {"id": f"new-orgs-{run_id}-{n}", "name": f"New {n}",
                                          "organizations": rng.sample(ORG_POOL, rng.randint(1, 3))}, {}),
    }


class Counting:
    """Statements sent per call: the engine's, the read connections', commits and (psycopg) waits."""

    def __init__(self, engine):
        self.counts: Counter = Counter()
        self.sql: Counter = Counter()
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", lambda conn: self.counts.update(["commit"]))
        original = snapshots._run

        def run(statement, params):
            self.counts["read"] += 1
            self.sql[statement.split(" FROM ")[0][:60]] += 1
            return original(statement, params)

        snapshots._run = run
        if engine.dialect.name == "postgresql":  # a round trip: one wait for the server's results
            from psycopg import _cursor_base, generators

            def counting(execute):
                def counted(pgconn, *args, **kwargs):
                    self.counts["round trips"] += 1
                    return (yield from execute(pgconn, *args, **kwargs))

                return counted

            generators.execute = counting(generators.execute)
            _cursor_base.execute = counting(_cursor_base.execute)

    def _statement(self, conn, cursor, statement, params, context, executemany):
        self.counts["statement"] += 1
        self.sql[" ".join(statement.split())[:70]] += 1


def server_cpu() -> float:
    """Seconds of CPU used so far by this host's PostgreSQL processes (0 when none is visible)."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if "(postgres" in stat[:64] or "(postmaster" in stat[:64]:
            fields = stat[stat.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def make_environ(path: str, body: dict, headers: dict) -> tuple[dict, bytes]:
    raw = json.dumps(body).encode()
    environ = EnvironBuilder(path=path, method="POST", data=raw, content_type="application/json",
                             headers=headers, base_url="http://localhost").get_environ()
    return environ, raw


def call(app, path: str, body: dict, headers: dict) -> tuple[str, bytes]:
    environ, raw = make_environ(path, body, headers)
    environ["wsgi.input"] = io.BytesIO(raw)
    status = []
    chunks = app(environ, lambda s, h, e=None: status.append(s))
    out = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return status[0], out


def per_call(app, path: str, bodies: list[dict], headers: dict) -> float:
    """µs per call over `bodies` (environs built before the clock starts)."""
    prepared = [make_environ(path, b, headers) for b in bodies]
    sink = lambda s, h, e=None: None  # noqa: E731
    started = time.perf_counter()
    for environ, raw in prepared:
        environ["wsgi.input"] = io.BytesIO(raw)
        chunks = app(environ, sink)
        for _ in chunks:
            pass
        if hasattr(chunks, "close"):
            chunks.close()
    return (time.perf_counter() - started) / len(prepared) * 1e6


def setup(database_url: str, instance: str):
    migrate(database_url, SECRET_KEY)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY, "SIGNET_RATELIMIT": None},
                     instance_path=instance)
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with app.app_context():
        tenant = tenants.create_tenant("Bench", f"bench-{time.time_ns()}@example.com", "correct horse battery staple")
        kid = keyring.add_public_key(tenant, pem.decode(), "EdDSA").kid
        public_id = tenant.public_id
        db.session.remove()
    orgs = [{"id": f"org-{i}", "name": f"Org {i}", "attrs": {"tier": i}} for i in range(3)]
    claims = {"id": "returning-1", "email": "ret@example.com", "name": "Returning User", "organizations": orgs,
              "attrs": {"plan": "pro"}, "exp": int(time.time()) + 3600}
    token = jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": kid})
    return app, public_id, token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--database", default="sqlite", help="sqlite, postgres, or a PostgreSQL URL")
    parser.add_argument("--case", action="append", help="only these cases (repeatable)")
    parser.add_argument("--sql", action="store_true", help="print the statements of each case")
    args = parser.parse_args()
    instance = tempfile.mkdtemp(prefix="signet-profile-")
    database_url, drop = database(args.database, instance)
    try:
        app, public_id, token = setup(database_url, instance)
        path = f"/api/v1/widget/{public_id}/set-user"
        status, out = call(app, path, {"jwt": token}, {})
        assert status.startswith("200"), out
        visitor = json.loads(out)["visitorId"]
        with app.app_context():
            counting = Counting(db.engine)
        for _ in range(200):
            call(bare_app, "/echo", {"id": "x"}, {})
        bare = statistics.median(per_call(bare_app, "/echo", [{"id": "x"}] * (args.calls // 5), {}) for _ in range(5))
        kind = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
        print(f"set-user in process on {kind}, {args.calls} calls per case; bare Flask endpoint {bare:.0f} µs/call")
        print(f"  {'case':<26} {'stmts':>6} {'reads':>6} {'commits':>7} {'trips':>6} {'µs/call':>8} {'bare/case':>9}"
              f" {'cpu µs':>7} {'db cpu µs':>9}")
        for name, (body, headers) in cases(token, visitor).items():
            if args.case and name not in args.case:
                continue
            for n in range(600):  # warm-up: users of rotating cases exist, caches filled
                status, out = call(app, path, body(n), headers)
                assert status.startswith("200"), (name, out)
            counting.counts.clear()
            counting.sql.clear()
            measured = 200
            for n in range(600, 600 + measured):
                call(app, path, body(n), headers)
            counts = {k: v / measured for k, v in counting.counts.items()}
            sql = dict(counting.sql)
            batch = args.calls // 5
            cpu, server = time.process_time(), server_cpu()
            timings = [per_call(app, path, [body(1000 + i * batch + n) for n in range(batch)], headers)
                       for i in range(5)]
            cpu, server = ((time.process_time() - cpu) / (5 * batch) * 1e6,
                           (server_cpu() - server) / (5 * batch) * 1e6)
            took = statistics.median(timings)
            print(f"  {name:<26} {counts.get('statement', 0):>6.2f} {counts.get('read', 0):>6.2f}"
                  f" {counts.get('commit', 0):>7.2f} {counts.get('round trips', 0):>6.2f} {took:>8.0f}"
                  f" {bare / took:>9.2f} {cpu:>7.0f} {server:>9.0f}", flush=True)
            if args.sql:
                for statement, times in sorted(sql.items(), key=lambda item: -item[1]):
                    print(f"      {times / measured:5.2f}  {statement}")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()


if __name__ == "__main__":
    main()
