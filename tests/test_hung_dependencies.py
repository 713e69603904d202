"""A dependency that hangs (SIGSTOP: connections accepted, nothing answered) never hangs Signet:
PostgreSQL frozen gives 503 with Retry-After within 5 s and /healthz says so within 2 s; Redis
frozen costs nothing once the circuit breaker is open, whether failing open or closed."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from webapp.extensions import db
from webapp.services.workspace import tenants

from .conftest import PASSWORD, make_app
from .helpers import csrf_of
from .servers import HttpClient, PostgresServer, RedisServer, Server, migrate


def call(url: str, body: dict | None = None, timeout: float = 30) -> tuple[int, dict | str, dict, float]:
    """(status, JSON body or text, headers, seconds taken)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw, status, headers = response.read().decode(), response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw, status, headers = error.read().decode(), error.code, dict(error.headers)
    took = time.monotonic() - started
    try:
        return status, json.loads(raw), headers, took
    except ValueError:
        return status, raw, headers, took


@pytest.fixture
def postgres():
    server = PostgresServer()
    yield server
    server.freeze(False)
    server.destroy()


def tenant_on(url: str, tmp_path) -> str:
    migrate(url, "k")
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=url, SECRET_KEY="k")
    with app.app_context():
        public_id = tenants.create_tenant("Hang", "hang@example.com", PASSWORD).public_id
        db.session.remove()
        db.engine.dispose()
    return public_id


@pytest.mark.postgres
def test_postgres_frozen_answers_503_within_5s_and_healthz_within_2s(postgres, tmp_path):
    tenant_id = tenant_on(postgres.url, tmp_path)
    server = Server({"SIGNET_DATABASE_URL": postgres.url, "SIGNET_SECRET_KEY": "k"}, threads=4)
    set_user = f"{server.url}/api/v1/widget/{tenant_id}/set-user"
    try:
        login = HttpClient(server.url)
        token = csrf_of(login.get("/login"))
        for index in range(8):  # warm: pooled and read connections open in several threads
            assert call(set_user, {"id": f"u{index}"})[0] == 200
        assert call(f"{server.url}/healthz")[1] == {"status": "ok"}
        postgres.freeze()
        for index in range(6):  # warm read connections, pooled ones (pre-ping), new ones: all bounded
            status, body, headers, took = call(set_user, {"id": f"u{index}"})
            assert status == 503 and body["error"]["code"] == "service_unavailable", body
            assert headers["Retry-After"] == "5" and took < 5, took
        status, body, headers, took = call(f"{server.url}/healthz")
        assert status == 503 and took < 2, took
        assert body == {"status": "down", "database": "down", "ratelimit": "n/a"}
        started = time.monotonic()
        status, page = login.post_form("/login", {"email": "hang@example.com", "password": PASSWORD,
                                                  "csrf_token": token})
        assert status == 503 and "cannot reach its database" in page and time.monotonic() - started < 5
        postgres.freeze(False)
        deadline = time.monotonic() + 10  # back by itself: the timed-out connections were dropped
        while call(set_user, {"id": "u1"})[0] != 200:
            assert time.monotonic() < deadline
        for index in range(6):
            assert call(set_user, {"id": f"u{index}"})[0] == 200
        assert call(f"{server.url}/healthz")[1] == {"status": "ok"}
    finally:
        postgres.freeze(False)
        server.stop()
    assert "Traceback" not in server.output()


@pytest.fixture
def redis_server():
    server = RedisServer()
    yield server
    server.freeze(False)
    server.stop()


def served_with_redis(redis_server: RedisServer, tmp_path, fail: str) -> tuple[Server, str]:
    database = f"sqlite:///{tmp_path / 'hang.sqlite3'}"
    tenant_id = tenant_on(database, tmp_path)
    server = Server({"SIGNET_DATABASE_URL": database, "SIGNET_SECRET_KEY": "k", "SIGNET_RATELIMIT": "1000/minute",
                     "SIGNET_RATELIMIT_STORAGE_URL": redis_server.url, "SIGNET_RATELIMIT_FAIL": fail})
    return server, f"{server.url}/api/v1/widget/{tenant_id}/set-user"


@pytest.mark.parametrize("fail, status_while_frozen, health_code", [("open", 200, 200), ("closed", 503, 503)])
def test_redis_frozen_costs_nothing_once_the_breaker_is_open(redis_server, tmp_path, fail, status_while_frozen,
                                                             health_code):
    server, set_user = served_with_redis(redis_server, tmp_path, fail)
    try:
        assert call(set_user, {"id": None})[0] == 200
        assert call(f"{server.url}/healthz")[1] == {"status": "ok"}
        redis_server.freeze()
        status, _, _, took = call(set_user, {"id": None})  # meets the socket timeout, opens the breaker
        assert status == status_while_frozen and took < 1, took
        timings = []
        for _ in range(30):
            status, _, headers, took = call(set_user, {"id": None})
            assert status == status_while_frozen
            if status == 503:
                assert headers["Retry-After"] == "5"
            timings.append(took)
        assert max(timings) < 0.5, timings  # at most one probe (0.25 s timeout) in the window
        status, body, _, took = call(f"{server.url}/healthz")
        assert (status, body) == (health_code, {"status": "degraded", "database": "ok", "ratelimit": "down"})
        assert took < 2
        redis_server.freeze(False)
        deadline = time.monotonic() + 8  # the breaker probes again after its cooldown (5 s)
        while call(f"{server.url}/healthz")[1] != {"status": "ok"}:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert call(set_user, {"id": None})[0] == 200
    finally:
        redis_server.freeze(False)
        server.stop()
    assert "Traceback" not in server.output()
