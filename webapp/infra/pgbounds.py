"""PostgreSQL bounded in time: a frozen, partitioned or overloaded server gives an error in seconds.

Measured (tests/test_hung_dependencies.py): with every PostgreSQL process stopped by SIGSTOP the
server's kernel still accepts connections and acknowledges every packet, so neither TCP
keepalives nor `tcp_user_timeout` nor the server's own `statement_timeout` ever fire, and psycopg
waits for an answer forever. Hence four layers:

- `connect_timeout`: a new connection (handshake included) gives up after CONNECT_SECONDS.
- TCP keepalives and `tcp_user_timeout`: a host that vanished (network partition, VM gone) is
  noticed on idle pooled connections and on sends that are never acknowledged.
- `statement_timeout` (server side, the configured timeout): a slow query or a lock wait is
  cancelled cleanly, the connection stays usable; the error reaches the 503 handler.
- A client-side bound on every wait for the server (`BoundedConnection.wait`, half a second
  longer so the server's own cancel comes first when it is alive): during a request, a server
  that does not answer at all closes the connection with `DatabaseTimeout` (a psycopg
  OperationalError, so SQLAlchemy treats it as a disconnect and the 503 handler answers).

CLI commands (migrations, prune) run outside requests: only the server-side timeout applies to
them, and migrations/env.py lifts it for the migration's connection.
"""
from __future__ import annotations

import threading
import time

import psycopg
from flask import has_request_context
from psycopg import errors as pg_errors
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

CONNECT_SECONDS = 2  # psycopg's floor (libpq's convention)
POOL_WAIT_SECONDS = 2  # pool exhausted: wait this long for a connection, then 503
# A pooled connection idle this long is pinged as it is checked out (a restart may have closed it);
# one in use under load is not (a ping per checkout was a round trip on every write).
PING_IDLE_SECONDS = 10
# What psycopg raises when a wait's timeout expires (an OperationalError); private, so looked up.
_WAIT_TIMEOUT = getattr(pg_errors, "_WaitTimeout", pg_errors.OperationalError)


class DatabaseTimeout(psycopg.OperationalError):
    """PostgreSQL did not answer in time; the connection was closed (never reused)."""


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose every wait for the server (query, commit, rollback, ping) is
    bounded while a request is served, or always when `bound_everywhere` (the health probe)."""

    bound: float | None = None
    bound_everywhere: bool = False

    def wait(self, gen, interval=0.1, timeout=None):
        bound = self.bound if self.bound and (self.bound_everywhere or has_request_context()) else None
        if timeout is not None or bound is None:
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, bound)
        except _WAIT_TIMEOUT:
            self.pgconn.finish()  # mid-protocol: the connection's state is unknown, so it ends here
            raise DatabaseTimeout(f"PostgreSQL did not answer within {bound:g} s") from None


def connect_args(timeout: float) -> dict:
    """psycopg connection parameters: connect timeout, keepalives, statement timeout."""
    args: dict = {
        "connect_timeout": CONNECT_SECONDS,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": 5000,  # ms: data unacknowledged this long → the kernel drops the connection
    }
    if timeout:
        args["options"] = f"-c statement_timeout={int(timeout * 1000)}"
    return args


def engine_options(options: dict, timeout: float) -> dict:
    """SQLAlchemy engine options with the bounds added (what the configuration sets wins)."""
    options = dict(options)
    options["connect_args"] = {**connect_args(timeout), **options.get("connect_args", {})}
    options.setdefault("pool_timeout", POOL_WAIT_SECONDS)
    options["pool_pre_ping"] = False  # bound_engine pings only connections idle PING_IDLE_SECONDS
    return options


def client_bound(timeout: float) -> float | None:
    return timeout + 0.5 if timeout else None


def bound_engine(engine: Engine, timeout: float) -> None:
    """Every connection the engine opens (the pool's and the hot path's read connections) is a
    BoundedConnection."""
    bound = client_bound(timeout)

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect, _record, cargs, cparams):
        connection = BoundedConnection.connect(*cargs, **cparams)
        connection.bound = bound
        return connection

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection, record):
        if record is not None:
            record.info["signet_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection, record, _proxy):
        """Ping a connection that sat idle (the pool then opens a new one if it is dead)."""
        idle_since = record.info.get("signet_idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_IDLE_SECONDS:
            return
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except psycopg.Error as error:
            raise exc.DisconnectionError(f"idle connection dropped: {type(error).__name__}") from error


def probe(engine: Engine, seconds: float) -> bool:
    """Whether PostgreSQL answers `SELECT 1` on a fresh connection within `seconds`.

    Run in a thread joined for `seconds` (psycopg's connect timeout cannot go under 2 s); the
    thread itself ends within CONNECT_SECONDS + `seconds` whatever the server does."""
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    cparams = {**cparams, **connect_args(seconds), "connect_timeout": CONNECT_SECONDS}
    answer: list[bool] = []

    def run() -> None:
        try:
            with BoundedConnection.connect(*cargs, **cparams) as connection:
                connection.bound, connection.bound_everywhere = seconds, True
                connection.execute("SELECT 1")
                answer.append(True)
        except psycopg.Error:
            pass

    thread = threading.Thread(target=run, name="signet-healthz", daemon=True)
    thread.start()
    thread.join(seconds)
    return bool(answer)
