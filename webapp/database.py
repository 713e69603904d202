"""Database binding: SQLite tuned for concurrent requests, PostgreSQL as is, and write transactions.

`writing()` opens a transaction that will write: on SQLite it starts with BEGIN IMMEDIATE, so it
takes the write lock up front and waits for it (busy_timeout) instead of failing when a read
snapshot turns out stale; on PostgreSQL the caller locks the rows it changes (FOR UPDATE).
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from . import models  # noqa: F401  (registers every table on the metadata)
from .extensions import db

SQLITE_BUSY_MS = 10_000
_immediate: ContextVar[bool] = ContextVar("signet_sqlite_immediate", default=False)


def init_app(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
        options.setdefault("connect_args", {})["timeout"] = SQLITE_BUSY_MS / 1000
        options["pool_pre_ping"] = False  # a local file: nothing to ping, and it costs a query per request
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _tune_sqlite(db.engine)


def is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


@contextmanager
def writing():
    """A fresh transaction meant to write; commits on success, rolls back on any error."""
    db.session.rollback()
    token = _immediate.set(True)
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        _immediate.reset(token)


def _tune_sqlite(engine: Engine) -> None:
    """WAL lets readers run beside a writer; busy_timeout makes writers wait, not fail.

    pysqlite's own transaction handling is switched off so that we emit BEGIN ourselves
    (the SQLAlchemy recipe), which lets a write transaction say BEGIN IMMEDIATE.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _immediate.get() else "BEGIN")
