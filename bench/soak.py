"""Soak: N set-user calls (anonymous, unsigned, signed, mixed) against gunicorn; 5xx and worker memory.

    .venv/bin/python bench/soak.py [--calls 100000] [--workers 2] [--database URL]

Prints the calls made, the count of 5xx and of other non-2xx answers, the rate, and each
worker's resident memory after a warm-up and at the end. Needs `wrk`.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jwt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import Server, migrate  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.services.keys import keyring  # noqa: E402
from webapp.services.workspace import tenants  # noqa: E402

SECRET_KEY = "soak-secret-key"

LUA = """
local tokens = TOKENS
local counter = OFFSET
status5, other = 0, 0  -- globals: done() reads them with thread:get
local threads = {}
setup = function(thread) table.insert(threads, thread) end
request = function()
  counter = counter + 1
  local kind = counter % 3
  local body
  if kind == 0 then body = '{"id":null}'
  elseif kind == 1 then body = string.format('{"id":"soak-%d","name":"Soak %d","attrs":{"n":%d}}', counter % 2000, counter % 97, counter % 5)
  else body = '{"jwt":"' .. tokens[(counter % #tokens) + 1] .. '"}' end
  return wrk.format("POST", "URL", {["Content-Type"] = "application/json"}, body)
end
response = function(status, headers, body)
  if status >= 500 then status5 = status5 + 1 elseif status >= 300 then other = other + 1 end
end
done = function(summary, latency, requests)
  local s5, o = 0, 0
  for _, t in ipairs(threads) do s5 = s5 + t:get("status5"); o = o + t:get("other") end
  io.write(string.format("RESULT %d %d %d\\n", summary.requests, s5, o))
end
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def workers(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return sorted(int(p) for p in out.split())


def run_wrk(url: str, tokens: list[str], connections: int, seconds: int, offset: int) -> tuple[int, int, int]:
    """One wrk round of `seconds`: (requests made, 5xx, other non-2xx)."""
    threads = 2
    script = LUA.replace("TOKENS", json.dumps(tokens).replace("[", "{").replace("]", "}")) \
        .replace("OFFSET", str(offset)).replace("URL", url)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    done = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", handle.name, url],
                          capture_output=True, text=True)
    os.unlink(handle.name)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed: {done.stdout}{done.stderr}")
    made, status5, other = map(int, re.search(r"RESULT (\d+) (\d+) (\d+)", done.stdout).groups())
    return made, status5, other


def soak(url: str, tokens: list[str], connections: int, calls: int) -> tuple[int, int, int, float]:
    """Rounds of at most 60 s until `calls` requests were made (the last round is sized to fit)."""
    made = status5 = other = 0
    started = time.time()
    rate = None
    while made < calls:
        remaining = calls - made
        seconds = 60 if rate is None else max(2, min(60, int(remaining / rate) + 1))
        round_made, round5, round_other = run_wrk(url, tokens, connections, seconds, made)
        rate = round_made / seconds
        made, status5, other = made + round_made, status5 + round5, other + round_other
    return made, status5, other, time.time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database")
    args = parser.parse_args()
    instance = tempfile.mkdtemp(prefix="signet-soak-")
    database = args.database or f"sqlite:///{instance}/soak.sqlite3"
    migrate(database, SECRET_KEY)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database, "SECRET_KEY": SECRET_KEY}, instance_path=instance)
    with app.app_context():
        tenant = tenants.create_tenant("Soak", f"soak-{time.time_ns()}@example.com", "correct horse battery staple")
        row, secret = keyring.create_secret(tenant)
        tenant_id, kid = tenant.public_id, row.kid
        db.session.remove()
        db.engine.dispose()
    tokens = [jwt.encode({"id": f"signed-{i}", "name": f"Signed {i}", "exp": int(time.time()) + 7200,
                          "organizations": [{"id": f"org-{i % 7}", "name": f"Org {i % 7}"}]},
                         secret, algorithm="HS256", headers={"kid": kid}) for i in range(50)]
    server = Server({"SIGNET_DATABASE_URL": database, "SIGNET_SECRET_KEY": SECRET_KEY, "SIGNET_RATELIMIT": "off"},
                    workers=args.workers, threads=1)
    url = f"{server.url}/api/v1/widget/{tenant_id}/set-user"
    try:
        run_wrk(url, tokens, args.connections, 10, 0)  # warm-up: imports, caches, pools
        pids = workers(server.process.pid)
        before = {pid: rss_kib(pid) for pid in pids}
        made, status5, other, elapsed = soak(url, tokens, args.connections, args.calls)
        after = {pid: rss_kib(pid) for pid in pids}
    finally:
        server.stop()
    kind = "PostgreSQL" if database.startswith("postgresql") else "SQLite"
    print(f"soak on {kind}: {made} set-user calls (1/3 anonymous, 1/3 unsigned changing, 1/3 signed), "
          f"in {elapsed:.0f} s ({made / elapsed:.0f}/s), gunicorn -w {args.workers}, wrk -c{args.connections}")
    print(f"  5xx: {status5}   other non-2xx: {other}")
    for pid in pids:
        print(f"  worker {pid}: RSS {before[pid] / 1024:.1f} MiB after warm-up -> {after[pid] / 1024:.1f} MiB at the end")


if __name__ == "__main__":
    main()
