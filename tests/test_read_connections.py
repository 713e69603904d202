"""The hot path's read connections: one per thread and engine, fresh on every statement, closed
with the engine, and never holding a transaction between requests."""
from __future__ import annotations

import sqlite3
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from webapp.extensions import db
from webapp.infra import read_connections
from webapp.services.end_users import snapshots

from .conftest import make_app, provision

ORIGIN = "https://app.example.com"


def set_user(client, tenant: dict, origin: str | None = None):
    headers = {"Origin": origin} if origin else {}
    return client.post(f"/api/v1/widget/{tenant.public_id}/set-user", json={"id": "u-1"}, headers=headers)


def held(app):
    with app.app_context():
        current = getattr(read_connections._local, "held", None)
        return current if current is not None and current.engine is db.engine else None


def test_one_read_connection_per_thread_closed_with_the_engine(app, ed_key):
    tenant = provision(app, ed_key)
    client = app.test_client()
    assert set_user(client, tenant).status_code == 200
    first = held(app)
    assert first is not None
    assert set_user(client, tenant).status_code == 200
    assert held(app) is first  # kept between requests
    with app.app_context():
        db.engine.dispose()
    assert held(app) is None
    with pytest.raises(sqlite3.ProgrammingError):
        first.connection.execute("SELECT 1")  # closed
    assert set_user(client, tenant).status_code == 200  # a new one is opened
    assert held(app) is not first


def test_reads_see_a_change_committed_elsewhere_at_once(app, ed_key, tmp_path):
    tenant = provision(app, ed_key)
    client = app.test_client()
    assert set_user(client, tenant, ORIGIN).status_code == 200
    # Another engine on the same file (as another process would be) narrows the allowed origins.
    other = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with other.begin() as conn:
        conn.execute(text("UPDATE tenant SET allowed_origins = :origins WHERE public_id = :id"),
                     {"origins": '["https://admin.example.com"]', "id": tenant.public_id})
    other.dispose()
    refused = set_user(client, tenant, ORIGIN)
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "origin_not_allowed"


@pytest.mark.postgres
def test_on_postgresql_no_transaction_stays_open_and_dispose_closes(postgres_url, tmp_path, ed_key):
    from .servers import migrate

    migrate(postgres_url, "k")
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url, SECRET_KEY="k")
    tenant = provision(app, ed_key)
    client = app.test_client()
    assert set_user(client, tenant).status_code == 200
    assert set_user(client, tenant).status_code == 200
    reader = held(app)
    assert reader is not None
    name = postgres_url.rpartition("/")[2]
    watcher = create_engine(postgres_url, isolation_level="AUTOCOMMIT")  # stats views are per transaction
    try:
        with watcher.connect() as conn:
            states = conn.execute(text("SELECT pid, state FROM pg_stat_activity WHERE datname = :name"
                                       " AND pid <> pg_backend_pid()"), {"name": name}).all()
            assert reader.connection.info.backend_pid in {pid for pid, _ in states}
            assert all(state != "idle in transaction" for _, state in states), states
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            # A backend leaves pg_stat_activity a moment after its client hangs up.
            deadline = time.time() + 10
            while True:
                left = conn.execute(text("SELECT pid, state, query FROM pg_stat_activity WHERE datname = :name"
                                         " AND pid <> pg_backend_pid()"), {"name": name}).all()
                if not left or time.time() > deadline:
                    break
                time.sleep(0.05)
            assert left == []
    finally:
        watcher.dispose()


def test_a_thread_that_ends_closes_its_read_connection(app, ed_key):
    """Servers that start a thread per request (or greenlets) must not leak a connection each."""
    import gc
    import threading

    tenant = provision(app, ed_key)
    opened = []

    def read():
        with app.app_context():
            assert snapshots.tenant(tenant.public_id) is not None
            opened.append(read_connections._local.held.connection)

    for _ in range(20):
        worker = threading.Thread(target=read)
        worker.start()
        worker.join()
    gc.collect()
    assert len(opened) == 20
    for connection in opened:
        with pytest.raises(sqlite3.ProgrammingError):
            connection.execute("SELECT 1")  # closed when its thread ended
    with app.app_context():
        assert len(read_connections._by_engine.get(db.engine, ())) <= 1  # at most this thread's own


def test_a_bad_value_keeps_the_connection(app, ed_key):
    """Only a dropped connection is replaced; a statement refused for its value is not a reason."""
    tenant = provision(app, ed_key)
    with app.app_context():
        snapshots.tenant(tenant.public_id)
        first = read_connections._local.held
        with pytest.raises(DBAPIError):
            snapshots._run("SELECT no_such_column FROM tenant", {})
        assert read_connections._local.held is first


@pytest.mark.postgres
def test_on_postgresql_gated_reads_are_prepared_once_and_again_when_gone(postgres_url, tmp_path, ed_key):
    """PostgreSQL's kept reads (read_connections._gated) run as statements prepared on the read
    connection through libpq (`_run_prepared`): prepared at the first read, used as they are
    after, prepared again when the server lost them (`DEALLOCATE ALL`, as a pooler's `DISCARD
    ALL` would), and an error the server reports is raised as any read's, the connection kept."""
    from .servers import migrate

    migrate(postgres_url, "k")
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url, SECRET_KEY="k")
    tenant = provision(app, ed_key)
    client = app.test_client()
    assert set_user(client, tenant).status_code == 200
    reader = held(app)

    def on_server() -> set[str]:
        return {name for (name,) in reader.connection.execute("SELECT name FROM pg_prepared_statements")}

    names = set(reader.prepared)
    assert names and all(name.startswith(b"signet_read_") for name in names)
    assert {name.decode() for name in names} <= on_server()
    assert set_user(client, tenant).status_code == 200
    assert held(app) is reader and set(reader.prepared) == names
    reader.connection.execute("DEALLOCATE ALL")
    assert set_user(client, tenant).status_code == 200
    assert held(app) is reader and {name.decode() for name in names} <= on_server()
    reader.prepared.clear()  # as if the server session had them from before (a pooler's): used as they are
    assert set_user(client, tenant).status_code == 200
    assert held(app) is reader and set(reader.prepared) >= names
    with app.app_context():
        with pytest.raises(DBAPIError):
            read_connections.run(read_connections._gated("SELECT no_such_column FROM tenant"), {"memo_known": ""})
        assert read_connections._local.held is reader
        # A NUL would end libpq's text value early (the lookup of a shorter id): refused, as psycopg refuses it.
        with pytest.raises(DBAPIError, match="NUL"):
            snapshots.tenant(tenant.public_id + "\x00x")
        assert read_connections._local.held is reader
    assert set_user(client, tenant).status_code == 200
