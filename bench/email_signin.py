"""Email sign-in: does the answer take longer for a known address than for an unknown one?

    .venv/bin/python bench/email_signin.py [--requests 200]

Serves Signet under gunicorn (1 worker, 4 threads, SQLite, mails to a local aiosmtpd server),
makes N users whose emails signed data proved, then POSTs the hosted page's email form N times
for known addresses, N times for unknown ones and N times for other unknown ones, interleaved in a random order over one
keep-alive connection (each from its own X-Forwarded-For address and for its own email, so no
throttle answers). Prints the median and 90th percentile of each group and the differences of medians.
A third group, `control`, sends other unknown addresses in the same shuffled run: control −
unknown is the noise floor under the same background load (the mails of the known group).
A timing test would be flaky on a shared machine: this is a measurement, not a test
(docs/BENCHMARKS.md keeps the numbers).
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jwt
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import Server, free_port, migrated_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.services.keys import keyring  # noqa: E402
from webapp.services.end_users import identify, snapshots  # noqa: E402
from webapp.services.workspace import tenants  # noqa: E402

SECRET_KEY = "bench-email-signin-secret-key"
WARMUP = 20
GROUPS = ("known", "unknown", "control")


class Sink:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def setup(folder: Path, users: int) -> tuple[str, str]:
    url, app = migrated_app(folder, SECRET_KEY, "bench.sqlite3")
    with app.app_context():
        tenant = tenants.create_tenant("Bench", "bench-owner@example.com", "correct horse battery staple")
        row, secret = keyring.create_secret(tenant)
        info = snapshots.tenant(tenant.public_id)
        for i in range(users):
            token = jwt.encode({"sub": f"known-{i}", "email": f"known-{i}@example.com", "exp": int(time.time()) + 600},
                               secret, algorithm="HS256", headers={"kid": row.kid})
            identify.set_user(info, {"jwt": token})
        public_id = tenant.public_id
        db.session.remove()
        db.engine.dispose()
    return url, public_id


def measure(server: Server, public_id: str, n: int) -> dict[str, list[float]]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", f"/m/{public_id}")
    page = conn.getresponse()
    body = page.read().decode()
    cookie = "; ".join(c.split(";", 1)[0] for c in page.headers.get_all("Set-Cookie") or [])
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"', body)
    token = next(g for g in csrf.groups() if g)
    plan = [(kind, i) for kind in GROUPS for i in range(n + WARMUP)]
    random.shuffle(plan)
    times: dict[str, list[float]] = {kind: [] for kind in GROUPS}
    seen = dict.fromkeys(GROUPS, 0)
    for number, (kind, i) in enumerate(plan):
        email = f"known-{i}@example.com" if kind == "known" else f"nobody-{kind}-{i}@example.com"
        form = f"csrf_token={token}&email={email}"
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie,
                   "X-Forwarded-For": f"10.{number // 65536}.{number // 256 % 256}.{number % 256}"}
        start = time.perf_counter()
        conn.request("POST", f"/m/{public_id}/email", body=form, headers=headers)
        response = conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - start
        assert response.status == 200, response.status
        seen[kind] += 1
        if seen[kind] > WARMUP:
            times[kind].append(elapsed * 1000)
    conn.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url, public_id = setup(folder, args.requests + WARMUP)
        server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": SECRET_KEY, "SIGNET_PROXY_COUNT": "1",
                         "SIGNET_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}", "SIGNET_TEST_LOG_DIR": tmp},
                        workers=1, threads=4)
        try:
            times = measure(server, public_id, args.requests)
            time.sleep(1)
        finally:
            server.stop()
    smtp.stop()
    result = {}
    for kind, values in times.items():
        values.sort()
        result[kind] = {"median_ms": round(statistics.median(values), 3),
                        "p90_ms": round(values[int(len(values) * 0.9)], 3), "n": len(values)}
    result["known_minus_unknown_ms"] = round(result["known"]["median_ms"] - result["unknown"]["median_ms"], 3)
    result["control_minus_unknown_ms"] = round(result["control"]["median_ms"] - result["unknown"]["median_ms"], 3)
    result["mails_received"] = sink.count
    print(json.dumps(result))


if __name__ == "__main__":
    main()
