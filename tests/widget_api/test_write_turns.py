"""SQLite writers take turns on a lock file before SQLite's own lock (infra/write_turns.py, issue 18).

What is proved here: a write waits while another process holds the turn and then is stored; a
read never waits for it; a turn not had within the busy timeout is a 503 after that one wait; a
write that fails in the database, or meets SQLite's busy timeout, lets go of its turn (another
process can take it at once); and writes go on without turns, or without the doorbell, where
their files cannot be had. Who may claim what does not change: the turn only orders
writers, every check and every transaction is as it was.
"""
from __future__ import annotations

import glob
import os
import sqlite3
import subprocess
import sys
import time

import pytest
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.infra import database, write_turns
from webapp.models import EndUser

from ..conftest import make_app
from .conftest import assert_error, identify, make_tenant, set_user, sign

HOLD = """
import fcntl, os, sqlite3, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
if sys.argv[4] == "sqlite-too":
    locker = sqlite3.connect(sys.argv[2], isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(float(sys.argv[3]))
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


def _lock_file(app) -> str:
    return os.path.join(write_turns.folder_for(_database_file(app)), "lock")


def _hold_turn(app, seconds: float, sqlite_too: bool = False) -> subprocess.Popen:
    """Another process holding the writers' turn (and SQLite's write lock: `sqlite_too`) for `seconds`."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, _lock_file(app), _database_file(app), str(seconds),
                               "sqlite-too" if sqlite_too else "turn"],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def _turn_is_free(app) -> bool:
    out = subprocess.run([sys.executable, "-c", TRY, _lock_file(app)], capture_output=True,
                         text=True, timeout=60, check=True).stdout.strip()
    return out == "free"


def _stored(app, external_id: str) -> EndUser | None:
    with app.app_context():
        return db.session.query(EndUser).filter_by(external_id=external_id).one_or_none()


def _write_while_held(app, client, seconds: float) -> tuple[float, float]:
    """A new user written while another process holds the turn for `seconds`: (wall, CPU) time."""
    identify(client, {"id": "warm", "name": "Warm"})  # the turn's files exist, this process has them open
    holder = _hold_turn(app, seconds)
    try:
        started, cpu = time.monotonic(), time.process_time()
        identify(client, {"id": "queued", "name": "Queued"})
        return time.monotonic() - started, time.process_time() - cpu
    finally:
        holder.wait(timeout=30)


def test_a_write_waits_for_the_turn_another_process_holds_then_is_stored(app, tenant, client):
    waited, _cpu = _write_while_held(app, client, 0.8)
    assert waited >= 0.5, f"the write did not wait for the turn ({waited:.3f} s)"
    assert _stored(app, "queued").name == "Queued"
    assert _turn_is_free(app)
    # The turn's files keep apart from the database's: whatever reads every test.sqlite3* file
    # (a backup script, a test) meets no FIFO, which would block it for good.
    database = _database_file(app)
    assert all(os.path.isfile(p) for p in glob.glob(database + "*"))
    assert sorted(os.listdir(write_turns.folder_for(database))) == ["bell", "lock"]


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


def test_a_turn_held_for_the_whole_busy_timeout_is_a_503_after_that_timeout_alone(app, tenant, client, monkeypatch):
    """Another process holds the turn and SQLite's lock: the write gives up after the turn's wait
    (the busy timeout) and answers as SQLite would, without waiting SQLite's busy timeout again."""
    identify(client, {"id": "warm", "name": "Warm"})
    with app.app_context():
        turns = database._write_turns[db.engine]
    monkeypatch.setattr(turns, "wait_seconds", 0.3)
    holder = _hold_turn(app, 30, sqlite_too=True)
    try:
        started = time.monotonic()
        for body in ({"id": "late", "name": "Late"},  # sent alone
                     {"id": "late", "name": "Late", "organizations": [{"id": "o1", "name": "One"}]}):
            assert_error(set_user(client, body), 503, "service_unavailable")
        waited = time.monotonic() - started
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert waited < 5, f"waited {waited:.1f} s: the turn's wait and then SQLite's"
    assert _stored(app, "late") is None
    assert _turn_is_free(app)
    identify(client, {"id": "late", "name": "Late"})


def test_a_write_sqlite_keeps_waiting_past_its_timeout_lets_go_of_its_turn(tmp_path, ed_key, monkeypatch):
    """Another program holds SQLite's lock without a turn: each kind of write (alone, in a
    transaction, and a refusal's record kept apart) takes the turn, meets SQLite's busy timeout,
    and leaves the turn free for the next writer."""
    monkeypatch.setattr(database, "SQLITE_BUSY_MS", 300)
    app = make_app(tmp_path)
    client = make_tenant(app, ed_key).api_client()
    identify(client, {"jwt": client.tenant.sign({"id": "vera", "name": "Vera"}, "EdDSA")})
    locker = sqlite3.connect(_database_file(app), isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        assert_error(set_user(client, {"id": "new", "name": "New"}), 503, "service_unavailable")
        assert _turn_is_free(app)
        assert_error(set_user(client, {"id": "new", "organizations": [{"id": "o", "name": "O"}]}), 503,
                     "service_unavailable")
        assert _turn_is_free(app)
        refused = set_user(client, {"id": "vera", "name": "Mallory"})  # its refusal is recorded apart
        assert refused.status_code in (403, 503)
        assert _turn_is_free(app)
    finally:
        locker.rollback()
        locker.close()
    identify(client, {"id": "new", "name": "New"})
    assert _stored(app, "new") is not None


def test_writes_go_on_without_turns_where_the_lock_file_cannot_be_opened(tmp_path, ed_key):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / ".test.sqlite3.writers" / "lock").mkdir(parents=True)  # something that is no lock file
    app = make_app(tmp_path)
    client = make_tenant(app, ed_key).api_client()
    for n in range(3):
        identify(client, {"id": "u", "name": f"Name {n}", "organizations": [{"id": "o", "name": f"O {n}"}]})
    assert _stored(app, "u").name == "Name 2"


def test_a_doorbell_that_is_not_a_fifo_is_not_listened_to(tmp_path, ed_key):
    """A plain file at the doorbell's path (an instance folder copied file by file) always reads
    as rung: the waiter ignores it and only looks again now and then, without spinning."""
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / ".test.sqlite3.writers").mkdir()
    (instance / ".test.sqlite3.writers" / "bell").write_bytes(b"\0" * 10)
    app = make_app(tmp_path)
    client = make_tenant(app, ed_key).api_client()
    waited, cpu = _write_while_held(app, client, 0.8)
    assert waited >= 0.5 and cpu < 0.4, f"{cpu:.2f} s of CPU while waiting for the turn"
    assert _stored(app, "queued") is not None


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
