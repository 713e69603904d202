"""Webhook delivery: 2 000 events from widget traffic to a local receiver.

    .venv/bin/python bench/webhooks.py [--events 2000] [--clients 8] [--database postgresql+psycopg://…]

Serves Signet with gunicorn, points one webhook endpoint (all events) at a receiver on 127.0.0.1
that verifies every delivery with the standardwebhooks library, and sends set-user calls for new
unsigned users (each one writes a user.created event in its own transaction) while the workers
(`flask --app wsgi signet worker`, real processes, started before the traffic) run. Prints, per
run: the rate events were made at (offered_per_s), events delivered per second (first to last
arrival; it cannot exceed the offered rate by much when the workers keep up), the p50 and p99
delay from the change (the event's timestamp, taken in the write's transaction) to its arrival,
and how many were lost or arrived twice (the receiver always answers 204, so a second arrival
would be a send without a retry). Then, `backlog`: the same number of events made while no worker
runs, and the rate the workers empty that outbox at once started (what they can deliver).

Runs one worker; with a PostgreSQL --database, then two (they share the outbox with FOR UPDATE
SKIP LOCKED). Without --database: a temporary SQLite file, one worker. The database given is
migrated and written to: use a scratch one.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import Server, migrate  # noqa: E402
from tests.webhooks.receiver import Receiver  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.services.webhooks import endpoints  # noqa: E402
from webapp.services.workspace import tenants  # noqa: E402

SECRET_KEY = "bench-webhooks-secret-key"


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def start_workers(env: dict, count: int, logs: Path) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "signet", "worker"], cwd=ROOT, env=env,
                             stdout=open(logs / f"worker-{i}.log", "w"), stderr=subprocess.STDOUT)
            for i in range(count)]


def wait_ready(logs: Path, count: int) -> None:
    """Until every worker says it polls the outbox: a process's start (imports, app) is not part of
    the change-to-delivery delay measured."""
    deadline = time.time() + 120
    while time.time() < deadline:
        if all("polling the outbox" in (logs / f"worker-{i}.log").read_text() for i in range(count)):
            return
        time.sleep(0.1)
    raise SystemExit("the workers did not start: see " + str(logs))


def traffic(url: str, events: int, clients: int, prefix: str) -> float:
    """Set-user calls for `events` new users; the rate they were made at."""
    started = time.time()
    with ThreadPoolExecutor(clients) as pool:
        statuses = list(pool.map(lambda n: post(url, f'{{"id":"{prefix}-{n}"}}'.encode()), range(events)))
    assert all(s == 200 for s in statuses), set(statuses)
    return events / (time.time() - started)


def run(app, server: Server, env: dict, workers: int, events: int, clients: int, logs: Path,
        backlog: bool = False) -> dict:
    receiver = Receiver()
    with app.app_context():
        tenant = tenants.create_tenant(f"Bench {workers}", f"bench-{time.time_ns()}@example.com", "correct horse battery")
        _, receiver.secret = endpoints.add(tenant, receiver.url)
        tenant_id = tenant.public_id
    url = f"{server.url}/api/v1/widget/{tenant_id}/set-user"
    offered = traffic(url, events, clients, f"backlog-{workers}") if backlog else 0.0
    processes = start_workers(env, workers, logs)
    try:
        wait_ready(logs, workers)
        ready = time.time()
        if not backlog:
            offered = traffic(url, events, clients, f"bench-{workers}")
        deadline = time.time() + 300
        while len({r["id"] for r in receiver.accepted()}) < events and time.time() < deadline:
            time.sleep(0.2)
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        receiver.close()
    got = receiver.accepted()
    ids = [r["id"] for r in got]
    arrivals = sorted(r["arrived"] for r in got)
    delays = sorted(r["arrived"] - datetime.fromisoformat(r["payload"]["timestamp"].replace("Z", "+00:00")).timestamp()
                    for r in got)
    if backlog:
        return {"workers": workers, "backlog": events, "delivered": len(set(ids)), "twice": len(ids) - len(set(ids)),
                "drained_per_s": round(len(ids) / max(arrivals[-1] - ready, 1e-9), 1) if arrivals else 0}
    return {
        "workers": workers, "delivered": len(set(ids)), "lost": events - len(set(ids)),
        "twice": len(ids) - len(set(ids)), "unverified": sum(not r["verified"] for r in receiver.received),
        "offered_per_s": round(offered, 1),
        "events_per_s": round(len(ids) / max(arrivals[-1] - arrivals[0], 1e-9), 1) if arrivals else 0,
        "p50_s": round(statistics.median(delays), 3) if delays else None,
        "p99_s": round(delays[min(len(delays) - 1, int(len(delays) * 0.99))], 3) if delays else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--database")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="signet-bench-webhooks-"))
    database = args.database or f"sqlite:///{folder / 'bench.sqlite3'}"
    migrate(database, SECRET_KEY)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database, "SECRET_KEY": SECRET_KEY, "SIGNET_ALLOW_PRIVATE_URLS": True},
                     instance_path=str(folder))
    env = {**os.environ, "SIGNET_DATABASE_URL": database, "SIGNET_SECRET_KEY": SECRET_KEY,
           "SIGNET_ALLOW_PRIVATE_URLS": "1", "SIGNET_RATELIMIT": "off"}
    server = Server({"SIGNET_DATABASE_URL": database, "SIGNET_SECRET_KEY": SECRET_KEY}, workers=2, threads=4)
    try:
        runs = [1, 2] if database.startswith("postgresql") else [1]
        for backlog in (False, True):
            for workers in runs:
                result = run(app, server, env, workers, args.events, args.clients, folder, backlog)
                print(" ".join(f"{key}={value}" for key, value in result.items()), flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
