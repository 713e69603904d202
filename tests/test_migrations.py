"""Migrations take an empty database to head, on SQLite and PostgreSQL, and match the models."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.autogenerate import compare_metadata
from sqlalchemy import create_engine, inspect

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
