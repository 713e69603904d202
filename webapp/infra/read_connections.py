"""Each thread's read connection for the widget's hot path (services/end_users/snapshots.py).

Plain SQL on a driver connection kept open for the purpose: measured here, a tenant lookup costs
32 µs this way against about 500 µs through the Session (its transaction bookkeeping and result
processing), and a returning user needs two such reads. Taking a connection from SQLAlchemy's
pool and giving it back cost as much again under load (checkout, reset, the pool's queue), so
each thread keeps one connection per engine, detached from the pool and in autocommit: every
statement sees what is committed at that moment, and no transaction stays open between
requests.

A read that meets a dropped connection (the database restarted) reconnects and runs once more,
unless the server did not answer in time (webapp/infra/pgbounds.py: the connections are bounded);
any other database error is raised as SQLAlchemy would raise it, so the 503 handler applies.
`Engine.dispose()` closes the engine's read connections in every thread; a thread that ends
closes its own (the registry holds them weakly, a finalizer closes the connection).
"""
from __future__ import annotations

import os
import re
import threading
import weakref
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from ..extensions import db
from .pgbounds import DatabaseTimeout


@dataclass(eq=False)
class _Held:
    engine: Engine
    pid: int
    connection: object  # the driver's own connection
    postgres: bool
    closer: weakref.finalize | None = None


_local = threading.local()
# engine → the read connections open on it, held weakly: a thread that ends drops its _Held, and
# its finalizer closes the connection.
_by_engine: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_by_engine_lock = threading.Lock()


def _held() -> _Held:
    """This thread's read connection to the app's engine, opened (and registered) on first use."""
    engine = db.engine
    held = getattr(_local, "held", None)
    if held is not None and held.engine is engine and held.pid == os.getpid():
        return held
    if held is not None:
        _discard(held)
    proxied = engine.raw_connection()  # the engine's connect hooks run (WAL, busy timeout…)
    proxied.detach()  # no longer the pool's: closing it closes it
    connection = proxied.dbapi_connection
    postgres = engine.dialect.name == "postgresql"
    if postgres:
        connection.rollback()
        connection.autocommit = True  # no snapshot or idle transaction held between reads
    held = _local.held = _Held(engine, os.getpid(), connection, postgres)
    held.closer = weakref.finalize(held, _close, connection, held.pid)
    with _by_engine_lock:
        if engine not in _by_engine:
            event.listen(engine, "engine_disposed", _close_all)
            _by_engine[engine] = weakref.WeakSet()
        _by_engine[engine].add(held)
    return held


def _close(connection, pid: int) -> None:
    if pid != os.getpid():  # a forked child never closes its parent's connection
        return
    try:
        connection.close()
    except Exception:  # noqa: BLE001  already broken: nothing left to close
        pass


def _discard(held: _Held) -> None:
    if getattr(_local, "held", None) is held:
        _local.held = None
    with _by_engine_lock:
        engine_helds = _by_engine.get(held.engine)
        if engine_helds is not None:
            engine_helds.discard(held)
    held.closer()  # closes once, now


def _close_all(engine: Engine) -> None:
    with _by_engine_lock:
        helds = list(_by_engine.get(engine, ()))
    for held in helds:
        _discard(held)


@lru_cache(maxsize=None)
def _postgres_sql(statement: str) -> str:
    """`:name` parameters in psycopg's style (sqlite3 takes them as they are)."""
    return _NAMED.sub(r"%(\1)s", statement)


_NAMED = re.compile(r"(?<!:):([a-z_]+)")


def run(statement: str, params: dict) -> list[dict]:
    for attempt in (1, 2):
        held = None
        try:
            held = _held()
            cursor = held.connection.cursor()
            try:
                cursor.execute(_postgres_sql(statement) if held.postgres else statement, params)
                names = [column[0] for column in cursor.description]
                return [dict(zip(names, row)) for row in cursor.fetchall()]
            finally:
                cursor.close()
        except db.engine.dialect.loaded_dbapi.Error as error:
            dropped = held is not None and held.engine.dialect.is_disconnect(error, held.connection, None)
            if dropped:  # any other error (a bad value) leaves the connection as good as it was
                _discard(held)
                if attempt == 1 and not isinstance(error, DatabaseTimeout):  # a server that did not
                    continue  # answer in time would not answer a second try either: 503 now, not twice as late
            # As SQLAlchemy would raise it, so the error handlers (503 when the database is down) apply.
            raise DBAPIError.instance(statement, params, error, db.engine.dialect.loaded_dbapi.Error) from error
    raise AssertionError("unreachable")
