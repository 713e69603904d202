"""Concurrency across real server processes: one-time tokens and organization lists hold."""
import json
import random
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
from sqlalchemy import select

from webapp import create_app
from webapp.extensions import db
from webapp.models import EndUser
from webapp.services.keys import keyring
from webapp.services.workspace import tenants

from .conftest import PASSWORD
from .servers import Server, migrate

SECRET_KEY = "concurrency-test-secret-key"


def post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def setup_tenant(database_url: str, tmp_path) -> tuple[str, str, str]:
    migrate(database_url, SECRET_KEY)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY},
                     instance_path=str(tmp_path))
    with app.app_context():
        tenant = tenants.create_tenant("Race", "race@example.com", PASSWORD)
        row, secret = keyring.create_secret(tenant)
        result = tenant.public_id, row.kid, secret
        db.session.remove()
        db.engine.dispose()
    return result


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'race.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def two_servers(database_url, tmp_path):
    tenant_id, kid, secret = setup_tenant(database_url, tmp_path)
    env = {"SIGNET_DATABASE_URL": database_url, "SIGNET_SECRET_KEY": SECRET_KEY}
    servers = [Server(env, workers=1, threads=8), Server(env, workers=1, threads=8)]
    yield servers, tenant_id, kid, secret, database_url
    for server in servers:
        server.stop()


def test_one_time_token_fired_40_times_at_two_processes_succeeds_once(two_servers):
    servers, tenant_id, kid, secret, _ = two_servers
    token = jwt.encode({"id": "racer", "exp": int(time.time()) + 600, "jti": "only-once"}, secret,
                       algorithm="HS256", headers={"kid": kid})
    urls = [f"{s.url}/api/v1/widget/{tenant_id}/set-user" for s in servers]
    with ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(lambda i: post_json(urls[i % 2], {"jwt": token}), range(40)))
    statuses = sorted(status for status, _ in results)
    assert statuses.count(200) == 1, results
    assert all(body["error"]["code"] == "token_replayed" for status, body in results if status != 200), results


def test_concurrent_organization_updates_leave_one_complete_list(two_servers, tmp_path):
    servers, tenant_id, kid, secret, database_url = two_servers
    users = [f"user-{i}" for i in range(5)]
    lists = {n: [{"id": f"org-{n}-{j}", "name": f"Org {n}.{j}"} for j in range(1 + n % 4)] for n in range(8)}
    rng = random.Random(7)
    calls = [(rng.choice(users), rng.choice(list(lists))) for _ in range(200)]

    def call(i):
        user, n = calls[i]
        url = f"{servers[i % 2].url}/api/v1/widget/{tenant_id}/set-user"
        return post_json(url, {"id": user, "organizations": lists[n]})

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(call, range(len(calls))))
    assert [status for status, _ in results].count(200) == len(calls), [r for r in results if r[0] != 200][:3]

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY}, instance_path=str(tmp_path))
    with app.app_context():
        rows = db.session.scalars(select(EndUser).where(EndUser.anonymous.is_(False))).all()
        assert sorted(u.external_id for u in rows) == sorted(set(u for u, _ in calls))  # no duplicate users
        complete = [[o["id"] for o in org_list] for org_list in lists.values()]
        for user in rows:
            ids = [m.organization.external_id for m in user.memberships]
            assert ids in complete, f"{user.external_id} has a mixed list {ids}"
        db.session.remove()
        db.engine.dispose()
