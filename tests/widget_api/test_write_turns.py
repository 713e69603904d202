"""SQLite writers take turns on a lock file before SQLite's own lock (infra/write_turns.py, issue 18).

What is proved here: a write waits while another process holds the turn and then is stored; a
read never waits for it; a turn held past the busy timeout is given up and the write left to
SQLite, as before the turns existed; and a write that fails in the database lets go of its turn
(another process can take it at once). Who may claim what does not change: the turn only orders
writers, every check and every transaction is as it was.
"""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.infra import database
from webapp.models import EndUser

from .conftest import identify, set_user, sign

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""

TRY = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("taken")
"""


def _database_file(app) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")


def _hold_turn(app, seconds: float) -> subprocess.Popen:
    """Another process holding the writers' turn for `seconds`."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, f"{_database_file(app)}-writers.lock", str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def _turn_is_free(app) -> bool:
    out = subprocess.run([sys.executable, "-c", TRY, f"{_database_file(app)}-writers.lock"], capture_output=True,
                         text=True, timeout=60, check=True).stdout.strip()
    return out == "free"


def _stored(app, external_id: str) -> EndUser | None:
    with app.app_context():
        return db.session.query(EndUser).filter_by(external_id=external_id).one_or_none()


def test_a_write_waits_for_the_turn_another_process_holds_then_is_stored(app, tenant, client):
    identify(client, {"id": "warm", "name": "Warm"})  # the turn's files exist, this process has them open
    holder = _hold_turn(app, 0.8)
    try:
        started = time.monotonic()
        identify(client, {"id": "queued", "name": "Queued"})
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert waited >= 0.5, f"the write did not wait for the turn ({waited:.3f} s)"
    assert _stored(app, "queued").name == "Queued"
    assert _turn_is_free(app)


def test_a_returning_user_is_answered_while_another_process_holds_the_turn(app, tenant, client):
    token = sign({"id": "reader", "name": "Reader"}, tenant)
    identify(client, {"jwt": token})
    holder = _hold_turn(app, 20)
    try:
        body = identify(client, {"jwt": token})  # nothing to write: no turn to wait for
        assert holder.poll() is None, "answered only after the other process let go"
        assert body["user"]["id"] == "reader"
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_a_turn_held_past_the_busy_timeout_is_given_up_and_sqlite_decides(app, tenant, client, monkeypatch):
    identify(client, {"id": "warm", "name": "Warm"})
    with app.app_context():
        turns = database._write_turns[db.engine]
    monkeypatch.setattr(turns, "wait_seconds", 0.3)
    holder = _hold_turn(app, 30)  # holds the turn only: SQLite's own lock is free
    try:
        identify(client, {"id": "late", "name": "Late", "organizations": [{"id": "o1", "name": "One"}]})
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert _stored(app, "late").name == "Late"
    assert _turn_is_free(app)


@pytest.mark.parametrize("body", [
    {"id": "broken", "name": "boom"},  # a new user: INSERT (sent alone)
    {"id": "broken", "name": "boom", "organizations": [{"id": "o1", "name": "One"}]},  # a transaction
])
def test_a_write_the_database_refuses_lets_go_of_its_turn(app, tenant, client, body):
    with sqlite3.connect(_database_file(app)) as raw:
        raw.execute("CREATE TRIGGER no_boom BEFORE INSERT ON end_user WHEN NEW.name = 'boom'"
                    " BEGIN SELECT RAISE(ABORT, 'no boom'); END")
    with pytest.raises(IntegrityError, match="no boom"):  # the test client raises what would be a 500
        set_user(client, body)
    assert _stored(app, "broken") is None
    assert _turn_is_free(app)  # another process gets the turn at once
    identify(client, {"id": "after", "name": "After"})  # and this one too
    assert _stored(app, "after") is not None
