"""What a client sees while a dependency hangs (issue 19): throughput and latency, measured.

    .venv/bin/python bench/faults.py [--seconds 10] [--clients 8]

1. Redis frozen (SIGSTOP), SIGNET_RATELIMIT_FAIL=open: anonymous set-user req/s against the same
   server with Redis answering (the goal: within half of normal).
2. PostgreSQL frozen (a private cluster, every process SIGSTOP'd): each request's status and time,
   and /healthz's.
Prints one line per case; docs/DEPLOY.md and docs/BENCHMARKS.md quote them.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import PostgresServer, RedisServer, Server, migrate  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.services.workspace import tenants  # noqa: E402


def post(url: str, body: dict) -> tuple[int, float]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, time.monotonic() - started


def rate(url: str, seconds: float, clients: int) -> tuple[float, dict]:
    """req/s of anonymous set-user calls by `clients` threads for `seconds`; statuses counted."""
    counts: dict = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run():
        while time.monotonic() < deadline:
            status, _ = post(url, {"id": None})
            with lock:
                counts[status] = counts.get(status, 0) + 1

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts.values()) / seconds, counts


def tenant_on(url: str, folder: str) -> str:
    migrate(url, "k")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "k"}, instance_path=folder)
    with app.app_context():
        public_id = tenants.create_tenant("Bench", "bench@example.com", "correct horse battery").public_id
        db.session.remove()
        db.engine.dispose()
    return public_id


def redis_frozen(seconds: float, clients: int) -> None:
    folder = tempfile.mkdtemp(prefix="signet-faults-")
    database = f"sqlite:///{folder}/bench.sqlite3"
    tenant_id = tenant_on(database, folder)
    redis = RedisServer()
    server = Server({"SIGNET_DATABASE_URL": database, "SIGNET_SECRET_KEY": "k", "SIGNET_RATELIMIT": "1000000/minute",
                     "SIGNET_RATELIMIT_STORAGE_URL": redis.url, "SIGNET_RATELIMIT_FAIL": "open"},
                    workers=2, threads=4, args=("--worker-class", "webapp.infra.serving.BufferingWorker"))
    url = f"{server.url}/api/v1/widget/{tenant_id}/set-user"
    try:
        normal, counts = rate(url, seconds, clients)
        print(f"redis answering: {normal:.0f} req/s {counts}")
        redis.freeze()
        frozen, counts = rate(url, seconds, clients)
        print(f"redis frozen, fail open: {frozen:.0f} req/s {counts} = {frozen / normal:.2f} of normal")
    finally:
        redis.freeze(False)
        server.stop()
        redis.stop()


def postgres_frozen() -> None:
    postgres = PostgresServer()
    try:
        tenant_id = tenant_on(postgres.url, tempfile.mkdtemp(prefix="signet-faults-"))
        server = Server({"SIGNET_DATABASE_URL": postgres.url, "SIGNET_SECRET_KEY": "k"},
                        args=("--worker-class", "webapp.infra.serving.BufferingWorker"))
        url = f"{server.url}/api/v1/widget/{tenant_id}/set-user"
        try:
            for index in range(8):
                post(url, {"id": f"u{index}"})
            postgres.freeze()
            answers = [post(url, {"id": f"u{index}"}) for index in range(8)]
            print("postgres frozen, set-user:", ", ".join(f"{status} in {took:.2f} s" for status, took in answers))
            started = time.monotonic()
            try:
                urllib.request.urlopen(f"{server.url}/healthz", timeout=30)
            except urllib.error.HTTPError as error:
                print(f"postgres frozen, /healthz: {error.code} in {time.monotonic() - started:.2f} s")
        finally:
            postgres.freeze(False)
            server.stop()
    finally:
        postgres.destroy()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    options = parser.parse_args()
    redis_frozen(options.seconds, options.clients)
    postgres_frozen()
