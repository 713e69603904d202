"""PostgreSQL stopped under a running Signet: 503s and friendly pages, then recovery without restart."""
import json
import urllib.error
import urllib.request

import pytest
from sqlalchemy import text

from webapp.extensions import db
from webapp.services.workspace import tenants

from .conftest import PASSWORD, make_app
from .helpers import csrf_of
from .servers import HttpClient, PostgresServer, Server, migrate


@pytest.fixture
def postgres():
    server = PostgresServer()
    yield server
    server.destroy()


def call(url: str, body: dict | None = None) -> tuple[int, dict | str, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            raw, status, headers = response.read().decode(), response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw, status, headers = error.read().decode(), error.code, dict(error.headers)
    try:
        return status, json.loads(raw), headers
    except ValueError:
        return status, raw, headers


@pytest.mark.postgres
def test_database_stopped_then_back(postgres, tmp_path):
    migrate(postgres.url, "k")
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=postgres.url, SECRET_KEY="k")
    with app.app_context():
        tenant_id = tenants.create_tenant("Faults", "faults@example.com", PASSWORD).public_id
        db.session.remove()
        db.engine.dispose()
    server = Server({"SIGNET_DATABASE_URL": postgres.url, "SIGNET_SECRET_KEY": "k"})
    set_user = f"{server.url}/api/v1/widget/{tenant_id}/set-user"
    try:
        assert call(set_user, {"id": "u1"})[0] == 200
        postgres.stop()
        status, body, headers = call(set_user, {"id": "u1"})
        assert status == 503 and body["error"]["code"] == "service_unavailable" and headers["Retry-After"] == "5"
        status, page, _ = call(f"{server.url}/healthz")
        assert status == 503
        login = HttpClient(server.url)  # the login form renders without the database; posting it needs it
        status, page = login.post_form("/login", {"email": "faults@example.com", "password": PASSWORD,
                                                  "csrf_token": csrf_of(login.get("/login"))})
        assert status == 503 and "cannot reach its database" in page
        postgres.start()
        for _ in range(10):  # connections from before the restart are replaced (pre-ping; the read path retries)
            status, body, _ = call(set_user, {"id": "u1"})
            assert status == 200 and body["user"]["id"] == "u1"
        assert call(f"{server.url}/healthz")[0] == 200
    finally:
        server.stop()
    assert "Traceback" not in server.output()


@pytest.mark.postgres
def test_connection_lost_after_the_commit_keeps_the_response(postgres_url, tmp_path):
    """The server closes the request's connection between the commit and the end-of-request
    ROLLBACK (as a restart does): the stored write is answered with its 200, never gunicorn's
    own HTML 500 (which would make the client retry a write that was stored)."""
    migrate(postgres_url, "k")
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url, SECRET_KEY="k")
    with app.app_context():
        tenant_id = tenants.create_tenant("Teardown", "teardown@example.com", PASSWORD).public_id
        db.session.remove()
        db.engine.dispose()
    server = Server({"SIGNET_DATABASE_URL": postgres_url, "SIGNET_SECRET_KEY": "k"}, app="tests.fault_app:app")
    set_user = f"{server.url}/api/v1/widget/{tenant_id}/set-user"
    try:
        for index in range(3):
            request = urllib.request.Request(set_user, data=json.dumps({"id": f"kept-{index}"}).encode(), headers={
                "Content-Type": "application/json", "X-Test-Kill-Connection": "1"})
            with urllib.request.urlopen(request, timeout=20) as response:
                assert response.status == 200
                assert json.loads(response.read())["user"]["id"] == f"kept-{index}"
        assert call(set_user, {"id": "after"})[0] == 200  # the pool dropped the dead connection
    finally:
        server.stop()
    assert "database cleanup failed, connection dropped" in server.output()
    assert "Traceback" not in server.output()
    with app.app_context():
        stored = db.session.execute(text("SELECT count(*) FROM end_user WHERE external_id LIKE 'kept-%'")).scalar()
    assert stored == 3


@pytest.mark.postgres
def test_a_closed_connection_returned_to_the_pool_is_one_line_not_a_traceback(postgres_url, tmp_path, caplog):
    """When the server closed a connection before the pool takes it back (a restart, or the race
    the test above provokes), SQLAlchemy logs the failed reset with a traceback: the operator
    gets one warning line instead, and other pool errors keep theirs."""
    import logging

    import psycopg

    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url, SECRET_KEY="k")
    with app.app_context():
        log = db.engine.pool.logger
        log = getattr(log, "logger", log)
        db.engine.dispose()
    try:
        raise psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")
    except psycopg.OperationalError:
        import sys
        closed = sys.exc_info()
    with caplog.at_level(logging.WARNING):
        log.error("Exception during reset or similar", exc_info=closed)
        log.error("Exception during reset or similar", exc_info=(ValueError, ValueError("other"), None))
    quiet, other = caplog.records[-2:]
    assert quiet.exc_info is None and quiet.levelno == logging.WARNING and "dropped" in quiet.getMessage()
    assert other.exc_info is not None and other.levelno == logging.ERROR
