"""Rate limits in a shared Redis: one counter across processes, and Redis down never means a 500."""
import json
import time
import urllib.error
import urllib.request

import pytest

from webapp.extensions import db
from webapp.infra.ratelimit import BREAKER_COOLDOWN
from webapp.services.workspace import tenants

from .conftest import PASSWORD, make_app
from .helpers import csrf_of
from .servers import HttpClient, RedisServer, Server, migrate


@pytest.fixture
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


def post(url: str, body: dict) -> int:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.postgres
def test_the_widget_limit_is_shared_by_two_processes(redis_server, postgres_url, tmp_path):
    """Two app processes against one PostgreSQL and one Redis: one counter."""
    database = postgres_url
    migrate(database, "k")
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=database, SECRET_KEY="k")
    with app.app_context():
        tenant_id = tenants.create_tenant("Shared", "shared@example.com", PASSWORD).public_id
        db.session.remove()
        db.engine.dispose()
    env = {"SIGNET_DATABASE_URL": database, "SIGNET_SECRET_KEY": "k", "SIGNET_RATELIMIT": "6/minute",
           "SIGNET_RATELIMIT_STORAGE_URL": redis_server.url}
    servers = [Server(env), Server(env)]
    try:
        statuses = [post(f"{servers[i % 2].url}/api/v1/widget/{tenant_id}/set-user", {"id": None}) for i in range(8)]
    finally:
        for server in servers:
            server.stop()
    assert statuses == [200] * 6 + [429, 429]


@pytest.fixture
def limited(redis_server, tmp_path):
    """A Signet process (one app per process, as in production) limiting through Redis."""
    database = f"sqlite:///{tmp_path / 'limits.sqlite3'}"
    migrate(database, "k")
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=database, SECRET_KEY="k")
    with app.app_context():
        tenant_id = tenants.create_tenant("Limits", "limits@example.com", PASSWORD).public_id
        db.session.remove()
    started = []

    def start(fail: str) -> tuple[Server, str]:
        server = Server({"SIGNET_DATABASE_URL": database, "SIGNET_SECRET_KEY": "k", "SIGNET_RATELIMIT": "100/minute",
                         "SIGNET_RATELIMIT_STORAGE_URL": redis_server.url, "SIGNET_RATELIMIT_FAIL": fail})
        started.append(server)
        return server, f"{server.url}/api/v1/widget/{tenant_id}/set-user"

    yield start
    for server in started:
        server.stop()


def login(server: Server, password: str) -> tuple[int, str]:
    client = HttpClient(server.url)
    token = csrf_of(client.get("/login"))
    return client.post_form("/login", {"email": "limits@example.com", "password": password, "csrf_token": token})


def test_redis_down_fails_open_then_limits_again_when_back(redis_server, limited):
    server, url = limited("open")
    assert post(url, {"id": None}) == 200
    redis_server.stop()
    assert post(url, {"id": None}) == 200  # served, unthrottled
    status, page = login(server, "wrong password, but the form still answers")
    assert status == 401 and "Wrong email or password." in page  # the login throttle fails open too
    redis_server.start()
    assert post(url, {"id": None}) == 200


def test_redis_down_fails_closed_with_503_never_500(redis_server, limited):
    server, url = limited("closed")
    assert post(url, {"id": None}) == 200
    redis_server.stop()
    assert post(url, {"id": None}) == 503
    status, page = login(server, PASSWORD)
    assert status == 503 and "briefly unavailable" in page
    redis_server.start()
    # The circuit breaker skips Redis for BREAKER_COOLDOWN seconds after a failure, then probes:
    # service comes back by itself within that window, answering 503 (never a 500) meanwhile.
    deadline = time.monotonic() + BREAKER_COOLDOWN + 2
    statuses = [post(url, {"id": None})]
    while statuses[-1] != 200 and time.monotonic() < deadline:
        time.sleep(0.25)
        statuses.append(post(url, {"id": None}))
    assert statuses[-1] == 200 and set(statuses[:-1]) <= {503}, statuses
