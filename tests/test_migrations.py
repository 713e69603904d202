"""Migrations take an empty database to head, on SQLite and PostgreSQL, and match the models."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.autogenerate import compare_metadata
from sqlalchemy import create_engine, inspect, text

from webapp.extensions import db
import webapp.models  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent


def flask_db(url: str, *args):
    env = {**os.environ, "SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": "migration-test"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return result


def assert_schema_matches_models(url: str):
    engine = create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"
    assert set(db.metadata.tables) <= tables


def round_trip(url: str):
    flask_db(url, "upgrade")
    assert_schema_matches_models(url)
    flask_db(url, "downgrade", "base")
    flask_db(url, "upgrade")
    assert_schema_matches_models(url)


def test_migrations_sqlite(tmp_path):
    round_trip(f"sqlite:///{tmp_path / 'm.sqlite3'}")


@pytest.mark.postgres
def test_migrations_postgres(postgres_url):
    round_trip(postgres_url)


def test_migration_0006_proves_no_email_that_unsigned_data_could_have_planted(tmp_path):
    """Before 0006 nothing recorded where an email came from: `setUser({id: "mallory", email:
    victim})` unsigned, then a token for mallory without an email, left a verified user holding
    the victim's address. After the upgrade that address must not sign anyone in as mallory;
    only an email sign-in user whose email is still the one its id names keeps its proof."""
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    flask_db(url, "upgrade", "0005")
    engine = create_engine(url)
    rows = [("mallory", "victim@corp.example", 1, "widget"),
            ("email:jane@corp.example", "jane@corp.example", 0, "email"),
            ("email:old@corp.example", "changed@corp.example", 0, "email")]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tenant (public_id, name, created_at, verification_mode, allowed_origins,"
                          " audience, require_audience, login_links_enabled, login_links_require_jti,"
                          " email_sign_in, keys_version) VALUES ('t1', 'T', '2025-01-01 00:00:00', 'optional',"
                          " '[]', 'signet-widget', 0, 0, 0, 'existing', 0)"))
        for external_id, email, verified, via in rows:
            conn.execute(text("INSERT INTO end_user (tenant_id, external_id, anonymous, email, attrs, verified,"
                              " created_via, first_seen_at, last_seen_at) VALUES (1, :x, 0, :e, '{}', :v, :c,"
                              " '2025-01-01 00:00:00', '2025-01-01 00:00:00')"),
                         {"x": external_id, "e": email, "v": verified, "c": via})
    flask_db(url, "upgrade", "0006")
    with engine.connect() as conn:
        proven = dict(conn.execute(text("SELECT external_id, email_verified FROM end_user")).all())
    engine.dispose()
    assert proven == {"mallory": 0, "email:jane@corp.example": 1, "email:old@corp.example": 0}


def test_upgrading_keeps_every_row_that_references_a_rebuilt_table(tmp_path):
    """SQLite batch mode rebuilds `tenant` (copy, DROP, rename) for a new checked column; with
    foreign keys on, that DROP used to delete every end user, conversation and membership of the
    deployment through ON DELETE CASCADE. Rows made at 0004 all survive the upgrade to head."""
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    flask_db(url, "upgrade", "0004")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tenant (public_id, name, created_at, verification_mode, allowed_origins,"
                          " audience, require_audience, login_links_enabled, login_links_require_jti,"
                          " email_sign_in, keys_version) VALUES ('t1', 'T', '2025-01-01 00:00:00', 'optional',"
                          " '[]', 'signet-widget', 0, 0, 0, 'existing', 0)"))
        conn.execute(text("INSERT INTO member (email, password_hash, session_version, created_at)"
                          " VALUES ('o@example.com', 'x', 1, '2025-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO membership (tenant_id, member_id, role, created_at)"
                          " VALUES (1, 1, 'owner', '2025-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO end_user (tenant_id, external_id, anonymous, attrs, verified, created_via,"
                          " first_seen_at, last_seen_at) VALUES (1, 'u1', 0, '{}', 1, 'widget',"
                          " '2025-01-01 00:00:00', '2025-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO conversation (public_id, tenant_id, user_id, subject, status, created_at,"
                          " updated_at, staff_read_message_id, unread_by_staff) VALUES ('c1', 1, 1, 'Hi', 'open',"
                          " '2025-01-01 00:00:00', '2025-01-01 00:00:00', 0, 0)"))
        conn.execute(text("INSERT INTO message (public_id, tenant_id, conversation_id, author, body, created_at)"
                          " VALUES ('m1', 1, 1, 'user', 'Hi', '2025-01-01 00:00:00')"))
    flask_db(url, "upgrade")
    with engine.connect() as conn:
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("tenant", "member", "membership", "end_user", "conversation", "message")}
        foreign_keys = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    engine.dispose()
    assert counts == dict.fromkeys(counts, 1)
    assert foreign_keys == []
