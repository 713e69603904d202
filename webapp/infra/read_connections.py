"""Each thread's read connection for the widget's hot path (services/end_users/snapshots.py).

Plain SQL on a driver connection kept open for the purpose: measured here, a tenant lookup costs
32 µs this way against about 500 µs through the Session (its transaction bookkeeping and result
processing), and a returning user needs two such reads. Taking a connection from SQLAlchemy's
pool and giving it back cost as much again under load (checkout, reset, the pool's queue), so
each thread keeps one connection per engine, detached from the pool and in autocommit: every
statement sees what is committed at that moment, and no transaction stays open between
requests.

On SQLite, `memoized` also keeps what a read built from its rows while the database is unchanged
since: `PRAGMA data_version` (a few microseconds, no table touched) moves whenever any other
connection, of this process or another, commits, and the read connection itself never writes.
So an answer kept under the same data_version is exactly what the read would return now, and a
returning user costs no read at all.

On PostgreSQL a read of one row is kept the same way, against the statement's own snapshot: the
read is sent wrapped (`_gated`) so that the server answers the snapshot it ran under
(`pg_current_snapshot()`: which transactions had committed) and runs the read itself only when
that differs from the one the kept answer was read at. Two equal snapshots see exactly the same
committed data (a commit anywhere in the cluster moves xmax or leaves the in-progress list), so
a kept answer is again exactly what the read gives now; the round trip stays, but the server
does no read and nothing is built again. The server's start time goes with the snapshot, so a
server that took another's place (a promoted replica may reuse transaction ids) never matches;
a standby keeps nothing (its snapshot does not list the primary's running transactions, so a
commit there can leave it unchanged: tests/test_kept_reads_standby.py).

A read that meets a dropped connection (the database restarted) reconnects and runs once more,
unless the server did not answer in time (webapp/infra/pgbounds.py: the connections are bounded);
any other database error is raised as SQLAlchemy would raise it, so the 503 handler applies.
`Engine.dispose()` closes the engine's read connections in every thread; a thread that ends
closes its own (the registry holds them weakly, a finalizer closes the connection).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import weakref
from dataclasses import dataclass, field
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

from psycopg import errors as pg_errors
from psycopg import generators, pq
from psycopg.rows import dict_row
from psycopg.types.string import TextLoader
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
    cursor: object = None  # PostgreSQL: the one cursor every read runs on
    closer: weakref.finalize | None = None
    # Answers built from reads (see `memoized`), valid while the database is at this version:
    # SQLite's data_version, PostgreSQL's snapshot and start time (`_gated`).
    memo: dict = field(default_factory=dict)
    memo_version: int | str | None = None
    version_cursor: object = None  # SQLite: the cursor `PRAGMA data_version` is asked on (made once)
    prepared: set = field(default_factory=set)  # PostgreSQL: the gated reads prepared on it (`_run_prepared`)
    encoding: str = "utf-8"  # PostgreSQL: the connection's client encoding, as a Python codec


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
        try:
            connection.rollback()
            connection.autocommit = True  # no snapshot or idle transaction held between reads
            # psycopg prepares a statement run 5 times; PostgreSQL would still plan each execution
            # anew (a "custom plan": 0.2 ms for the tenant-and-user join) where the generic plan
            # is the same index lookups. These reads are all key lookups (no partial index).
            connection.execute("SET plan_cache_mode = force_generic_plan")
            # JSON columns come as their text, parsed by the snapshot once: a join repeats the
            # tenant's and the user's columns on every organization row, and psycopg would
            # parse each copy (snapshots._json parses text, as SQLite gives it).
            for name in ("json", "jsonb"):
                connection.adapters.register_loader(name, TextLoader)
        except Exception:  # a pooled connection the server closed: `run` decides on the error
            _close(connection, os.getpid())
            raise
    held = _local.held = _Held(engine, os.getpid(), connection, postgres,
                               cursor=connection.cursor(row_factory=dict_row) if postgres else None,
                               encoding=connection.info.encoding if postgres else "utf-8")
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
            if held.postgres:
                prepared = _PREPARED.get(statement)
                if prepared is not None:  # a gated read: libpq's own prepared statement
                    return _run_prepared(held, prepared, params)
                # one cursor kept; dict_row names the columns from the result (no Column objects)
                return held.cursor.execute(_postgres_sql(statement), params).fetchall()
            cursor = held.connection.cursor()
            try:
                cursor.execute(statement, params)
                names = [column[0] for column in cursor.description]
                return [dict(zip(names, row)) for row in cursor.fetchall()]
            finally:
                cursor.close()
        except db.engine.dialect.loaded_dbapi.Error as error:
            # (held is None: the connection being opened failed its set-up, and is closed.)
            dropped = db.engine.dialect.is_disconnect(error, held and held.connection, None)
            if dropped:  # any other error (a bad value) leaves the connection as good as it was
                if held is not None:
                    _discard(held)
                if attempt == 1 and not isinstance(error, DatabaseTimeout):  # a server that did not
                    continue  # answer in time would not answer a second try either: 503 now, not twice as late
            # As SQLAlchemy would raise it, so the error handlers (503 when the database is down) apply.
            raise DBAPIError.instance(statement, params, error, db.engine.dialect.loaded_dbapi.Error) from error
    raise AssertionError("unreachable")


def is_postgres() -> bool:
    """Whether the app's database is PostgreSQL (a read may then take a form of its own)."""
    return db.engine.dialect.name == "postgresql"


T = TypeVar("T")
MEMO_SIZE = 512  # answers kept per read connection (thread); all dropped at once when full


def memoized(statement: str, params: dict, build: Callable[[list[dict]], T], read=None, *,
             one_row: bool = False) -> T:
    """`build(rows)` of the read `statement` with `params`, made at most once per state of the
    database (see the module's docstring): the answer must be immutable, since every caller
    until the next commit anywhere gets the same object. `read`: the function that reads
    (default `run`; snapshots passes its own, which tests may wrap). `one_row`: the statement
    returns at most one row (PostgreSQL keeps only those: see `_gated`)."""
    read = read or run
    held = getattr(_local, "held", None)
    if held is None or held.engine is not db.engine or held.pid != os.getpid():
        if db.engine.dialect.name != "sqlite":  # PostgreSQL's first read opens it (`run` handles its errors)
            held = None
        else:
            held = _held()  # a file opened (an error comes wrapped by SQLAlchemy, as from any read)
    if held is None or held.postgres:
        if not one_row:
            return build(read(statement, params))
        return _memoized_postgres(statement, params, build, read)
    try:
        if held.version_cursor is None:
            held.version_cursor = held.connection.cursor()
        version = held.version_cursor.execute("PRAGMA data_version").fetchone()[0]
    except db.engine.dialect.loaded_dbapi.Error:  # the read below reports it, as every read does
        return build(read(statement, params))
    if version != held.memo_version:
        held.memo.clear()
        held.memo_version = version
    key = (statement, *params.items())
    try:
        return held.memo[key]
    except KeyError:
        pass
    value = build(read(statement, params))
    if len(held.memo) >= MEMO_SIZE:
        held.memo.clear()
    held.memo[key] = value  # read at or after `version`: a later commit anywhere clears it
    return value


def _run_prepared(held: _Held, prepared: tuple[bytes, bytes, tuple[str, ...]], params: dict) -> list[dict]:
    """A gated read (`_gated`: one row of two text columns) run as a statement prepared on the
    read connection, through libpq's own calls: psycopg's cursor (its query conversion, dumpers,
    loaders and row maker) cost 35 of the 70 µs of CPU such a read took, measured in a loop; this
    is every set-user call's one read on PostgreSQL. The values go as text of unknown type, as
    psycopg sends a str, and the server types them from the statement (a gated statement types
    each parameter by what it is compared with: `:x IS NULL` alone would not prepare); the wait
    is the connection's own (`pgbounds.BoundedConnection.wait`: bounded during a request). An
    error the server reports is raised as psycopg raises it, so `run` handles it as any read's; a
    prepared statement gone from the server (`DISCARD ALL` by a pooler) is prepared again once,
    and one the server session already has (a pooler's session kept it) is used as it is."""
    name, sql, names = prepared
    connection, encoding = held.connection, held.encoding
    pgconn = connection.pgconn
    try:
        values = [_as_text(params[key], encoding) for key in names]
    except KeyError as missing:
        raise pg_errors.ProgrammingError(f"no value for the read's parameter {missing}") from None
    for attempt in (1, 2):
        if name not in held.prepared:
            pgconn.send_prepare(name, sql)
            try:
                _result(connection.wait(generators.execute(pgconn)), pq.ExecStatus.COMMAND_OK, encoding)
            except pg_errors.DuplicatePreparedStatement:  # the server session has it (a pooler's kept it):
                pass  # the same SQL, its name being the SQL's hash
            held.prepared.add(name)
        pgconn.send_query_prepared(name, values)
        try:
            result = _result(connection.wait(generators.execute(pgconn)), pq.ExecStatus.TUPLES_OK, encoding)
        except pg_errors.InvalidSqlStatementName:
            held.prepared.discard(name)
            if attempt == 2:
                raise
            continue
        return [{"memo_version": _text_value(result.get_value(row, 0), encoding),
                 "memo_row": _text_value(result.get_value(row, 1), encoding)} for row in range(result.ntuples)]
    raise AssertionError("unreachable")


def _result(results: list, expected, encoding: str):
    if not results:
        raise pg_errors.InternalError("the server sent no result")
    result = results[-1]
    if result.status != expected:
        raise pg_errors.error_from_result(result, encoding=encoding)
    return result


def _as_text(value, encoding: str) -> bytes | None:
    """A parameter as libpq's text (a C string: a NUL would end it early, so it is refused, as
    psycopg refuses it: PostgreSQL's text has none)."""
    if value is None:
        return None
    if isinstance(value, bool):  # (before int: a bool is one)
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, str):
        if "\x00" in value:
            raise pg_errors.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        return value.encode(encoding)
    raise pg_errors.ProgrammingError(f"a gated read takes str, int, bool or None values, not {type(value).__name__}")


def _text_value(value: bytes | None, encoding: str) -> str | None:
    return None if value is None else value.decode(encoding)


# Each gated read's prepared form: its SQL (as `_gated` returns it) → (the prepared statement's
# name, the SQL with $1… parameters, the parameters' names in that order).
_PREPARED: dict[str, tuple[bytes, bytes, tuple[str, ...]]] = {}


def _prepared_form(sql: str) -> tuple[bytes, bytes, tuple[str, ...]]:
    names: list[str] = []

    def number(match: re.Match) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    numbered = _NAMED.sub(number, sql)
    name = "signet_read_" + hashlib.sha256(sql.encode()).hexdigest()[:24]  # never psycopg's own _pg3_…
    return name.encode(), numbered.encode(), tuple(names)


# The version: the statement's snapshot (xid8 values: they never wrap) and the server's start; ''
# on a standby, whose snapshot does not list the transactions running on the primary (a commit
# there below xmax would leave it unchanged): nothing read there is kept or matched.
_PG_VERSION = ("CASE WHEN pg_is_in_recovery() THEN '' ELSE"
               " pg_current_snapshot()::text || ' ' || pg_postmaster_start_time()::text END")


@lru_cache(maxsize=64)
def _gated(statement: str) -> str:
    """`statement` (one row at most) wrapped for `_memoized_postgres`: one row of `memo_version`
    and `memo_row`, the row as JSON (`null`: the read found none), or SQL NULL when the version
    is `:memo_known` (never '') and the read was not run. The version is computed once (OFFSET 0
    keeps the subquery whole); CASE evaluates its subquery only when taken; and
    `pg_current_snapshot()` is the statement's one snapshot: the row is read under the very
    snapshot it is answered with. A second row is the server's error, never a wrong answer."""
    gated = ("SELECT memo_v.version AS memo_version,"
             " CASE WHEN memo_v.version <> '' AND memo_v.version = :memo_known THEN NULL"
             f" ELSE COALESCE((SELECT row_to_json(memo_read) FROM ({statement}) AS memo_read), 'null'::json)"
             f" END AS memo_row FROM (SELECT {_PG_VERSION} AS version OFFSET 0) AS memo_v")
    _PREPARED[gated] = _prepared_form(gated)  # `run` sends it prepared (`_run_prepared`)
    return gated


_NONE_KEPT = object()


def _memoized_postgres(statement: str, params: dict, build: Callable[[list[dict]], T], read) -> T:
    """PostgreSQL's `memoized` of a one-row read: one round trip always, the read and the build
    only when something was committed since the kept answer was read. The row comes as JSON:
    its JSON columns arrive parsed and its timestamps as ISO text (the builders take both, as
    they take SQLite's text)."""
    key = (statement, *params.items())
    held = getattr(_local, "held", None)
    usable = held is not None and held.engine is db.engine and held.pid == os.getpid()
    known = held.memo_version if usable and key in held.memo else ""
    answer = read(_gated(statement), {**params, "memo_known": known})[0]
    version, row = answer["memo_version"], answer["memo_row"]
    if row is None:  # the version sent: nothing committed since the kept answer was read
        kept = _local.held.memo.get(key, _NONE_KEPT)  # (the read may have opened the connection again: none kept there)
        if kept is not _NONE_KEPT:
            return kept
        answer = read(_gated(statement), {**params, "memo_known": ""})[0]
        version, row = answer["memo_version"], answer["memo_row"]
    held = _local.held  # the read opened it if there was none
    value = build([] if row == "null" else [json.loads(row)])
    if not version:  # a standby's read: never kept
        return value
    if version != held.memo_version:
        held.memo.clear()
        held.memo_version = version
    if len(held.memo) >= MEMO_SIZE:
        held.memo.clear()
    held.memo[key] = value  # read at exactly `version`
    return value
