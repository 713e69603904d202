"""Set-user throughput against a bare Flask JSON endpoint, both under gunicorn, measured with wrk.

    .venv/bin/python bench/set_user.py [--seconds 10] [--rounds 3] [--workers 2] [--connections 16] [--database URL]

Prints requests/second for: the bare endpoint; a returning verified user (EdDSA token, 3 orgs,
unchanged data, the visitor cookie sent); an unsigned user whose data changes on every call;
an anonymous visitor; and each one's ratio to the bare endpoint. Needs `wrk` (apt-get install wrk).

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


CASES = ("returning verified user (EdDSA, 3 orgs)", "changing unsigned user", "anonymous visitor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database", help="a PostgreSQL URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    instance = tempfile.mkdtemp(prefix="signet-bench-")
    database_url = args.database or f"sqlite:///{instance}/bench.sqlite3"
    info = setup(database_url, instance)
    env = {"SIGNET_DATABASE_URL": database_url, "SIGNET_SECRET_KEY": SECRET_KEY, "SIGNET_RATELIMIT": "off"}
    signet = Server(env, workers=args.workers, threads=1)
    bare = Server({}, workers=args.workers, threads=1, app="bench.bare_app:app")
    kind = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    print(f"set-user throughput on {kind}, gunicorn -w {args.workers}, wrk -t2 -c{args.connections} -d{args.seconds}s,"
          f" {args.rounds} rounds", flush=True)
    rounds = []
    try:
        set_user = f"{signet.url}/api/v1/widget/{info['tenant_id']}/set-user"
        visitor = first_call(set_user, {"jwt": info["token"]})["visitorId"]
        first_call(set_user, {"jwt": info["token"]})
        run = lambda **kw: wrk(seconds=args.seconds, connections=args.connections, **kw)  # noqa: E731
        for number in range(1, args.rounds + 1):
            base = run(url=f"{bare.url}/echo", body={"id": "x"})
            results = dict(zip(CASES, (
                run(url=set_user, body={"jwt": info["token"]}, headers={"X-Signet-Visitor": visitor}),
                run(url=set_user, lua=LUA_CHANGING.replace("URL", set_user)),
                run(url=set_user, body={"id": None}, headers={"X-Signet-Visitor": visitor}),
            )))
            rounds.append((base, results))
            print(f"round {number}: bare Flask JSON endpoint {base:.1f} req/s; "
                  + "; ".join(f"{name} {rps:.1f} req/s ({rps / base:.2f})" for name, rps in results.items()), flush=True)
    finally:
        signet.stop()
        bare.stop()
    print(f"median over {len(rounds)} rounds:")
    print(f"  {'bare Flask JSON endpoint':<42} {statistics.median(b for b, _ in rounds):>9.1f} req/s   ratio 1.00")
    for name in CASES:
        rps = statistics.median(r[name] for _, r in rounds)
        ratio = statistics.median(r[name] / b for b, r in rounds)
        print(f"  {name:<42} {rps:>9.1f} req/s   ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
