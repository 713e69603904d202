"""The database a benchmark runs on: a SQLite file in its temporary folder, a scratch PostgreSQL
database made for the run and dropped afterwards, or a database given by URL as it is."""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable

from sqlalchemy import create_engine, text

DEFAULT_POSTGRES = "postgresql+psycopg://signet:signet@127.0.0.1:5432/postgres"


def scratch_postgres(admin_url: str) -> tuple[str, Callable[[], None]]:
    """A new empty database on `admin_url`'s server: (its URL, a function that drops it)."""
    name = "signet_bench_" + uuid.uuid4().hex[:10]
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    return f"{admin_url.rpartition('/')[0]}/{name}", drop


def database(choice: str | None, instance: str) -> tuple[str, Callable[[], None]]:
    """(URL, cleanup) for --database: sqlite (or none) a file in `instance`; postgres a scratch
    database on SIGNET_BENCH_POSTGRES_URL's server (default the local test server); else a URL."""
    if choice in (None, "sqlite"):
        return f"sqlite:///{instance}/bench.sqlite3", lambda: None
    if choice == "postgres":
        return scratch_postgres(os.environ.get("SIGNET_BENCH_POSTGRES_URL", DEFAULT_POSTGRES))
    return choice, lambda: None
