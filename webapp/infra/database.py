"""Database binding: SQLite tuned for concurrent requests, PostgreSQL bounded in time, and write
transactions.

`writing()` opens a transaction that will write: on SQLite it starts with BEGIN IMMEDIATE, so it
takes the write lock up front and waits for it (busy_timeout) instead of failing when a read
snapshot turns out stale; on PostgreSQL the caller locks the rows it changes (FOR UPDATE).
`writing_alone()` is for a write that is one statement: it is sent without BEGIN and COMMIT.
On SQLite every one of them first takes this process's turn among the writers of the file
(write_turns.py), so workers that collide are woken the moment the write before theirs ends,
not after SQLite's busy handler's sleeps.

PostgreSQL never hangs a request (webapp/infra/pgbounds.py): connect timeout, TCP keepalives, a
server-side statement_timeout and a client-side bound on every wait for the server, so a frozen
or unreachable server gives 503 within seconds. The end-of-request cleanup never raises: a
ROLLBACK on a connection the server closed (a restart) is logged and the connection dropped, and
the response already built is sent as it is.
"""
from __future__ import annotations

import logging
import sqlite3
import weakref
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from .. import models  # noqa: F401  (registers every table on the metadata)
from . import pgbounds, write_turns
from ..extensions import db

SQLITE_BUSY_MS = 10_000
_immediate: ContextVar[bool] = ContextVar("signet_sqlite_immediate", default=False)
_alone: ContextVar[bool] = ContextVar("signet_write_alone", default=False)  # see writing_alone
_write_turns: "weakref.WeakKeyDictionary[Engine, write_turns.WriteTurns]" = weakref.WeakKeyDictionary()


class _QuietDisconnectOnCheckin(logging.Filter):
    """The pool rolls a connection back as it takes it back; when the server already closed it (a
    restart, or a connection ended between the commit and the end of the request), SQLAlchemy
    logs that with a full traceback although nothing is wrong with the request: one line instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if str(record.msg).startswith("Exception during reset") and _is_disconnect(error):
            record.msg, record.args, record.exc_info, record.exc_text = (
                "a connection the database server closed was dropped on its return to the pool (%s)",
                (type(error).__name__,), None, None)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _quiet_checkin_disconnects(engine: Engine) -> None:
    log = engine.pool.logger
    log = getattr(log, "logger", log)  # an echoing pool logs through an adapter
    if not any(isinstance(f, _QuietDisconnectOnCheckin) for f in log.filters):
        log.addFilter(_QuietDisconnectOnCheckin())


def _is_disconnect(error: BaseException | None) -> bool:
    try:
        import psycopg
    except ImportError:  # SQLite only: nothing of the kind
        return False
    return isinstance(error, psycopg.OperationalError)


def init_app(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
        options.setdefault("connect_args", {})["timeout"] = SQLITE_BUSY_MS / 1000
        options["pool_pre_ping"] = False  # a local file: nothing to ping, and it costs a query per request
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    elif uri.startswith("postgresql+psycopg"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = pgbounds.engine_options(
            app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}), app.config["SIGNET_DATABASE_TIMEOUT"])
    db.init_app(app)
    # In place of Flask-SQLAlchemy's own teardown, which does the same session.remove() but may
    # raise: one hook a request instead of two (theirs would only find the session removed).
    app.teardown_appcontext_funcs[:] = [hook for hook in app.teardown_appcontext_funcs
                                        if getattr(hook, "__self__", None) is not db]
    app.teardown_appcontext(_remove_session)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _tune_sqlite(db.engine)
            path = db.engine.url.database
            if path and path != ":memory:" and not path.startswith("file:"):  # a file other processes may write
                _write_turns[db.engine] = write_turns.WriteTurns(path, SQLITE_BUSY_MS / 1000)
                if not event.contains(Session, "after_commit", _turn_over_at_commit):
                    event.listen(Session, "after_commit", _turn_over_at_commit)
        elif db.engine.dialect.driver == "psycopg":
            pgbounds.bound_engine(db.engine, app.config["SIGNET_DATABASE_TIMEOUT"])
            _quiet_checkin_disconnects(db.engine)


def _remove_session(_error: BaseException | None = None) -> None:
    """End the request's session without ever raising.

    Raising here (outside every error handler) would make gunicorn answer its own HTML 500 in
    place of the response already built: for a write that was stored, the client would retry it.
    A ROLLBACK on a connection the server closed (PostgreSQL restarted) is the usual case.
    """
    try:
        db.session.remove()
    except Exception as error:  # noqa: BLE001  whatever the driver raised, the response stands
        cause = getattr(error, "orig", None) or error
        current_app.logger.warning("database cleanup failed, connection dropped: %s", cause.__class__.__name__)
        try:
            db.session.invalidate()  # the broken connection is closed, never returned to the pool
        except Exception:  # noqa: BLE001  already as closed as it gets
            pass
        db.session.registry.clear()


def _take_turn(engine: Engine) -> None:
    """This thread's turn among the writers of a SQLite file (write_turns.py), before its BEGIN
    IMMEDIATE or its write sent alone; let go of by _end_turn when the transaction is over. Not
    had within the busy timeout: the error SQLite gives after that wait, so the request meets
    one busy timeout, not the turn's and then SQLite's."""
    turns = _write_turns.get(engine)
    if turns is not None and not turns.acquire():
        raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(
            "database is locked (another writer held its turn for the whole busy timeout)"))


_end_turn = write_turns.release_held


def _turn_over_at_commit(_session: Session) -> None:
    """The turn ends with the database's COMMIT, before the session's own bookkeeping after it
    (a tenth of the time a set-user write held the turn); `writing` ends it again, harmlessly."""
    _end_turn()


def is_sqlite() -> bool:
    return db.engine.dialect.name == "sqlite"


@contextmanager
def writing():
    """The one way a service writes: a fresh transaction that commits on success and rolls back on
    any error. The outermost `writing()` owns the transaction; a nested one (a service called by
    another inside its transaction) joins it and neither commits nor rolls back."""
    if _immediate.get():
        yield db.session
        return
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
        _end_turn()


@contextmanager
def writing_alone():
    """A write that is ONE statement and nothing else (no event, note or jti goes with it): a
    statement is atomic on its own, so it is sent without BEGIN and COMMIT (autocommit). On
    PostgreSQL one round trip instead of three; on SQLite the statement takes the write lock for
    its own run only (and waits for it, busy_timeout, as BEGIN IMMEDIATE would). Yields the
    connection to execute it on; an error the server reports leaves nothing written, as a
    rolled-back transaction would; the server's statement_timeout ends a statement that waits
    too long before the client gives up. (Should the client-side bound expire first, pgbounds.py,
    as with a server that stopped answering, the statement may still commit after the 503, as a
    COMMIT whose answer is lost may in `writing()`; set-user's writes are idempotent, so the
    retry changes nothing more.) Inside a `writing()` transaction it just joins it."""
    if _immediate.get():
        yield db.session.connection()
        return
    db.session.rollback()
    token = _alone.set(True)  # SQLite: _on_begin sends no BEGIN (pysqlite's own is off)
    driver = None
    try:
        _take_turn(db.engine)
        connection = db.session.connection()
        if connection.dialect.driver == "psycopg":  # idle now: psycopg has not sent its BEGIN yet
            driver = connection.connection.driver_connection
            driver.autocommit = True
        yield connection
        db.session.commit()  # nothing is left to commit on the server: no COMMIT is sent
    except BaseException:
        db.session.rollback()
        raise
    finally:
        _alone.reset(token)
        _end_turn()
        if driver is not None and not driver.closed:
            driver.autocommit = False


def writes(service):
    """A service whose whole body is one `writing()` transaction (joined when called inside one)."""

    @wraps(service)
    def wrapper(*args, **kwargs):
        with writing():
            return service(*args, **kwargs)

    return wrapper


@contextmanager
def writing_apart():
    """A short write transaction on a connection of its own, for a record that must be kept
    whatever becomes of the caller's transaction (a refusal's log row): the request's session is
    neither committed nor rolled back. Call it holding no write transaction (SQLite has one
    writer: it would wait for itself). Only this connection's BEGIN is IMMEDIATE."""
    with db.engine.connect() as connection:
        token = _immediate.set(True)
        try:
            transaction = connection.begin()
        finally:
            _immediate.reset(token)
        try:
            with Session(bind=connection, expire_on_commit=False) as session:
                try:
                    yield session
                    session.flush()
                    transaction.commit()
                except BaseException:
                    transaction.rollback()
                    raise
        finally:
            _end_turn()


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
        # Deleted rows are overwritten with zeros, not left readable in free pages: an erased
        # person (services/end_users/erasure.py) is gone from the file's bytes too. It costs only
        # on deletes (the hot path deletes nothing).
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        if _alone.get():  # writing_alone: the one statement is its own transaction
            return
        if not _immediate.get():
            connection.exec_driver_sql("BEGIN")
            return
        _take_turn(connection.engine)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:  # not begun (busy past the timeout): no transaction to end the turn
            _end_turn()
            raise
