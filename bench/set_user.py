"""Set-user throughput against a bare Flask JSON endpoint, both under gunicorn, measured with wrk.

    .venv/bin/python bench/set_user.py [--seconds 10] [--rounds 3] [--workers 2] [--threads 1] [--connections 16]
                                       [--database sqlite|postgres|URL] [--case NAME ...]

Prints requests/second for: the bare endpoint (on PostgreSQL also the bare endpoint plus one SELECT 1); a returning verified user (EdDSA token, 3 orgs,
unchanged data, the visitor cookie sent); an unsigned user whose name and attrs change on every
call (500 users); a user whose name, attrs and organizations change on every call (40 users, so
calls for one user contend; one to three organizations of a pool of 8); a brand-new user on every
call; a brand-new user with one to three organizations of the same pool on every call (a real
user's first call); an anonymous visitor; and each one's ratio to the bare endpoint of the same round. Needs
`wrk` (apt-get install wrk).

`--database postgres` makes a scratch database on the server of SIGNET_BENCH_POSTGRES_URL (default
the local test server, postgresql+psycopg://signet:signet@127.0.0.1:5432/postgres) and drops it
afterwards; a full postgresql+psycopg:// URL uses that database as it is.

This machine is a shared VM whose speed drifts by 10-20 % from one minute to the next, so each
round measures the bare endpoint and then every case, a ratio compares a case with the bare
endpoint of its own round, and the summary gives each case's median over the rounds.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import database  # noqa: E402
from tests.servers import Server, migrate  # noqa: E402
from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.services.keys import keyring  # noqa: E402
from webapp.services.workspace import tenants  # noqa: E402

SECRET_KEY = "bench-secret-key"

LUA_CHANGING = """
counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"id":"changer-%d","name":"Name %d","attrs":{"n":%d}}', counter % 500, counter, counter)
  return wrk.format("POST", "URL", {["Content-Type"] = "application/json"}, body)
end
"""

# One to three organizations of a pool of 8, in a random order (a Lua list of JSON objects).
LUA_PICK_ORGS = """
pick_orgs = function()
  local orgs = {}
  local taken = {}
  for i = 1, math.random(1, 3) do
    local k = math.random(0, 7)
    if not taken[k] then
      taken[k] = true
      orgs[#orgs + 1] = string.format('{"id":"pool-org-%d","name":"Pool org %d"}', k, k)
    end
  end
  return orgs
end
"""

# 40 users; each call sends 1-3 organizations of a pool of 8, in a random order.
LUA_CHANGING_ORGS = LUA_PICK_ORGS + """
counter = 0
math.randomseed(18)
request = function()
  counter = counter + 1
  local orgs = pick_orgs()
  local body = string.format('{"id":"org-changer-%d","name":"Name %d","attrs":{"n":%d},"organizations":[%s]}',
                             counter % 40, counter, counter, table.concat(orgs, ","))
  return wrk.format("POST", "URL", {["Content-Type"] = "application/json"}, body)
end
"""

# Each wrk thread's own prefix for the users it makes: its number, given by `setup` (every thread's
# Lua starts with the same random seed, so a random prefix was the same in both threads, and half
# the "new" users were the other thread's, made a moment before).
LUA_THREAD_PREFIX = """
threads = 0
setup = function(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end
counter = 0
prefix = nil
"""

# A user never seen before on every call.
LUA_NEW_USER = LUA_THREAD_PREFIX + """
request = function()
  if prefix == nil then prefix = string.format("%d-%d", os.time(), thread_number) end
  counter = counter + 1
  local body = string.format('{"id":"new-%s-%d","name":"New %d"}', prefix, counter, counter)
  return wrk.format("POST", "URL", {["Content-Type"] = "application/json"}, body)
end
"""


# A user never seen before on every call, in one to three organizations of the pool of 8.
LUA_NEW_USER_ORGS = LUA_THREAD_PREFIX + LUA_PICK_ORGS + """
request = function()
  if prefix == nil then prefix = string.format("%d-%d", os.time(), thread_number) end
  counter = counter + 1
  local orgs = pick_orgs()
  local body = string.format('{"id":"new-orgs-%s-%d","name":"New %d","organizations":[%s]}', prefix, counter,
                             counter, table.concat(orgs, ","))
  return wrk.format("POST", "URL", {["Content-Type"] = "application/json"}, body)
end
"""


def setup(database_url: str, instance: str) -> dict:
    migrate(database_url, SECRET_KEY)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY}, instance_path=instance)
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with app.app_context():
        tenant = tenants.create_tenant("Bench", f"bench-{time.time_ns()}@example.com", "correct horse battery staple")
        kid = keyring.add_public_key(tenant, pem.decode(), "EdDSA").kid
        info = {"tenant_id": tenant.public_id, "kid": kid}
        db.session.remove()
        db.engine.dispose()
    orgs = [{"id": f"org-{i}", "name": f"Org {i}", "attrs": {"tier": i}} for i in range(3)]
    claims = {"id": "returning-1", "email": "ret@example.com", "name": "Returning User", "organizations": orgs,
              "attrs": {"plan": "pro"}, "exp": int(time.time()) + 3600}
    info["token"] = jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": kid})
    return info


def wrk(url: str, seconds: int, connections: int, body: dict | None = None, headers: dict | None = None,
        lua: str | None = None) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if lua is None:
            head = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in (headers or {}).items())
            lua = f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(body))}\n' \
                  f'wrk.headers["Content-Type"] = "application/json"\n{head}'
        script.write(lua)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", script.name, url],
                         capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise SystemExit(f"{bad.group(1)} failed responses from {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def first_call(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


CASES = ("returning verified user (EdDSA, 3 orgs)", "changing unsigned user", "changing user with orgs",
         "new user each call", "anonymous visitor", "new user with orgs each call")
# On PostgreSQL, also the bare endpoint plus one round trip (SELECT 1): no endpoint reading the
# database once per request can pass it.
FLOOR = "bare endpoint + one SELECT 1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="threads per worker, for both servers (over 1:"
                        " gunicorn's threaded worker, as docs/DEPLOY.md runs Signet; 1: issue 18's setup)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database", help="sqlite (default: a fresh file), postgres (a scratch database on"
                        " SIGNET_BENCH_POSTGRES_URL's server) or a PostgreSQL URL")
    parser.add_argument("--case", action="append", choices=CASES, help="only these cases (repeatable)")
    args = parser.parse_args()
    cases = [name for name in CASES if not args.case or name in args.case]
    instance = tempfile.mkdtemp(prefix="signet-bench-")
    database_url, drop = database(args.database, instance)
    try:
        run_all(args, cases, database_url, instance)
    finally:
        drop()


def run_all(args, cases: list[str], database_url: str, instance: str) -> None:
    info = setup(database_url, instance)
    env = {"SIGNET_DATABASE_URL": database_url, "SIGNET_SECRET_KEY": SECRET_KEY, "SIGNET_RATELIMIT": "off"}
    signet = Server(env, workers=args.workers, threads=args.threads)
    postgres = database_url.startswith("postgresql")
    bare = Server({"BARE_DATABASE_URL": database_url} if postgres else {}, workers=args.workers, threads=args.threads,
                  app="bench.bare_app:app")
    kind = "PostgreSQL" if postgres else "SQLite"
    print(f"set-user throughput on {kind}, gunicorn -w {args.workers} --threads {args.threads},"
          f" wrk -t2 -c{args.connections} -d{args.seconds}s,"
          f" {args.rounds} rounds", flush=True)
    rounds = []
    try:
        set_user = f"{signet.url}/api/v1/widget/{info['tenant_id']}/set-user"
        visitor = first_call(set_user, {"jwt": info["token"]})["visitorId"]
        first_call(set_user, {"jwt": info["token"]})
        run = lambda **kw: wrk(seconds=args.seconds, connections=args.connections, **kw)  # noqa: E731
        load = {
            CASES[0]: lambda: run(url=set_user, body={"jwt": info["token"]}, headers={"X-Signet-Visitor": visitor}),
            CASES[1]: lambda: run(url=set_user, lua=LUA_CHANGING.replace("URL", set_user)),
            CASES[2]: lambda: run(url=set_user, lua=LUA_CHANGING_ORGS.replace("URL", set_user)),
            CASES[3]: lambda: run(url=set_user, lua=LUA_NEW_USER.replace("URL", set_user)),
            CASES[4]: lambda: run(url=set_user, body={"id": None}, headers={"X-Signet-Visitor": visitor}),
            CASES[5]: lambda: run(url=set_user, lua=LUA_NEW_USER_ORGS.replace("URL", set_user)),
            FLOOR: lambda: run(url=f"{bare.url}/echo-db", body={"id": "x"}),
        }
        if postgres:
            cases = [FLOOR, *cases]
        for number in range(1, args.rounds + 1):
            base = run(url=f"{bare.url}/echo", body={"id": "x"})
            results = {name: load[name]() for name in cases}
            rounds.append((base, results))
            print(f"round {number}: bare Flask JSON endpoint {base:.1f} req/s; "
                  + "; ".join(f"{name} {rps:.1f} req/s ({rps / base:.2f})" for name, rps in results.items()), flush=True)
    finally:
        signet.stop()
        bare.stop()
    print(f"median over {len(rounds)} rounds:")
    print(f"  {'bare Flask JSON endpoint':<42} {statistics.median(b for b, _ in rounds):>9.1f} req/s   ratio 1.00")
    for name in cases:
        rps = statistics.median(r[name] for _, r in rounds)
        ratio = statistics.median(r[name] / b for b, r in rounds)
        print(f"  {name:<42} {rps:>9.1f} req/s   ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
